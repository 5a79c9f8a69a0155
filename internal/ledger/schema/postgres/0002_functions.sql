-- One function per ledger operation, so each operation is one round trip
-- and one implicit READ COMMITTED transaction. Row locks are taken in a
-- fixed order (hold row, then accounts by name). Twin calls with one
-- idempotency key serialise on a row lock; when the lock comes after the key
-- lookup (reserve), the loser ends in a unique violation on the idempotency
-- insert, which the Go side retries and then replays. Statement count is kept
-- low on purpose (each SQL statement in PL/pgSQL costs an executor start):
-- the appends of an operation are one statement of data-modifying CTEs.
--
-- Every operation returns one row (outcome, body, msg):
--   ok       body = result JSON
--   replay   body = the first result JSON
--   conflict body = operation that owns the key
--   rejected body = reason, msg = detail (nothing changed, except that an
--            overdue hold met by capture/release is expired first)

-- ledger_journal appends one balanced journal transaction and applies it to
-- the balances. Accounts must come sorted by name (lock order) and exist
-- (ledger_credit creates a user's accounts); zero amounts are skipped.
CREATE FUNCTION ledger_journal(p_kind text, p_res text, p_key text, p_now bigint,
                               p_accounts text[], p_amounts bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_tx  bigint;
    v_sum bigint := 0;
    i     int;
BEGIN
    FOR i IN 1 .. array_length(p_accounts, 1) LOOP
        v_sum := v_sum + p_amounts[i];
    END LOOP;
    IF v_sum <> 0 THEN
        RAISE EXCEPTION 'ledger: % transaction does not balance (%)', p_kind, v_sum;
    END IF;
    INSERT INTO journal_tx (kind, reservation_id, idempotency_key, created_at)
    VALUES (p_kind, p_res, p_key, p_now) RETURNING id INTO v_tx;
    -- One UPDATE per account, in the given order: plain index lookups, and
    -- the lock order stays the caller's.
    FOR i IN 1 .. array_length(p_accounts, 1) LOOP
        CONTINUE WHEN p_amounts[i] = 0;
        UPDATE accounts SET balance = balance + p_amounts[i] WHERE name = p_accounts[i];
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ledger: account % does not exist', p_accounts[i];
        END IF;
    END LOOP;
    INSERT INTO journal_entries (tx_id, account, amount)
    SELECT v_tx, e.n, e.m FROM unnest(p_accounts, p_amounts) AS e(n, m) WHERE e.m <> 0;
END $$;

-- ledger_key looks up an idempotency key: outcome NULL if new.
CREATE FUNCTION ledger_key(p_key text, p_fp text, OUT outcome text, OUT body text)
LANGUAGE plpgsql AS $$
DECLARE
    v_op text;
    v_fp text;
    v_result text;
BEGIN
    SELECT i.op, i.fingerprint, i.result INTO v_op, v_fp, v_result FROM idempotency i WHERE i.key = p_key;
    IF NOT FOUND THEN
        RETURN;
    ELSIF v_fp <> p_fp THEN
        outcome := 'conflict'; body := v_op;
    ELSE
        outcome := 'replay'; body := v_result;
    END IF;
END $$;

CREATE FUNCTION ledger_credit(p_key text, p_fp text, p_user text, p_amount bigint, p_now bigint,
                              OUT outcome text, OUT body text, OUT msg text)
LANGUAGE plpgsql AS $$
BEGIN
    -- Create the user's accounts once, here, so no hot path ever has to
    -- (and no two first uses can race).
    INSERT INTO accounts (name, user_id, kind, balance)
    VALUES ('funding', NULL, 'funding', 0),
           ('user:' || p_user || ':available', p_user, 'available', 0),
           ('user:' || p_user || ':held', p_user, 'held', 0),
           ('user:' || p_user || ':spent', p_user, 'spent', 0)
    ON CONFLICT (name) DO NOTHING;
    PERFORM 1 FROM accounts WHERE name = 'funding' FOR UPDATE; -- serialises twins
    SELECT k.outcome, k.body, '' INTO outcome, body, msg FROM ledger_key(p_key, p_fp) k;
    IF outcome IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM ledger_journal('credit', NULL, p_key, p_now,
        ARRAY['funding', 'user:' || p_user || ':available'], ARRAY[-p_amount, p_amount]);
    INSERT INTO idempotency (key, op, fingerprint, result, created_at) VALUES (p_key, 'credit', p_fp, '{}', p_now);
    outcome := 'ok'; body := '{}'; msg := '';
END $$;

CREATE FUNCTION ledger_reserve(p_key text, p_fp text, p_id text, p_user text, p_model text,
                               p_prompt int, p_max_tokens int, p_amount bigint, p_pp bigint, p_cp bigint,
                               p_max_completion int, p_now bigint, p_expires bigint, p_body text,
                               OUT outcome text, OUT body text, OUT msg text)
LANGUAGE plpgsql AS $$
DECLARE
    v_avail text := 'user:' || p_user || ':available';
    v_held  text := 'user:' || p_user || ':held';
    v_bal   bigint;
    v_n     int;
BEGIN
    -- The debit is the balance check and the lock; a known key skips it.
    UPDATE accounts SET balance = balance - p_amount
     WHERE name = v_avail AND balance >= p_amount
       AND NOT EXISTS (SELECT 1 FROM idempotency WHERE key = p_key);
    IF NOT FOUND THEN
        -- A replay, a conflict, a twin that committed while we waited for
        -- the row, or too little credit.
        SELECT k.outcome, k.body, '' INTO outcome, body, msg FROM ledger_key(p_key, p_fp) k;
        IF outcome IS NOT NULL THEN
            RETURN;
        END IF;
        IF p_amount > 0 THEN
            SELECT balance INTO v_bal FROM accounts WHERE name = v_avail;
            outcome := 'rejected'; body := 'INSUFFICIENT_CREDITS';
            msg := format('user %L has %s available, hold needs %s', p_user, COALESCE(v_bal, 0), p_amount);
            RETURN;
        END IF;
    END IF;
    -- A twin that raced past the key check fails here on the idempotency
    -- primary key (unique violation); the caller retries and replays.
    WITH h AS (UPDATE accounts SET balance = balance + p_amount WHERE name = v_held AND p_amount > 0 RETURNING 1),
         r AS (INSERT INTO reservations (id, user_id, model_id, prompt_tokens, max_tokens, amount, prompt_per_1k,
                                         completion_per_1k, max_completion_tokens, status, created_at, expires_at)
               VALUES (p_id, p_user, p_model, p_prompt, p_max_tokens, p_amount, p_pp, p_cp, p_max_completion,
                       'active', p_now, p_expires)),
         t AS (INSERT INTO journal_tx (kind, reservation_id, idempotency_key, created_at)
               VALUES ('reserve', p_id, p_key, p_now) RETURNING id),
         e AS (INSERT INTO journal_entries (tx_id, account, amount)
               SELECT t.id, x.n, x.m FROM t, (VALUES (v_avail, -p_amount), (v_held, p_amount)) AS x(n, m)
                WHERE p_amount > 0),
         i AS (INSERT INTO idempotency (key, op, fingerprint, result, created_at)
               VALUES (p_key, 'reserve', p_fp, p_body, p_now))
    SELECT count(*) INTO v_n FROM h;
    IF p_amount > 0 AND v_n <> 1 THEN
        RAISE EXCEPTION 'ledger: account % does not exist', v_held;
    END IF;
    outcome := 'ok'; body := p_body; msg := '';
END $$;

-- ledger_settle moves a locked, active hold to a final status (charged goes
-- held → spent, the rest held → available) and records the key's result.
CREATE FUNCTION ledger_settle(p_id text, p_user text, p_amount bigint, p_status text, p_charged bigint,
                              p_key text, p_fp text, p_body text, p_now bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_accs text[] := ARRAY['user:' || p_user || ':available', 'user:' || p_user || ':held', 'user:' || p_user || ':spent'];
    v_amts bigint[] := ARRAY[p_amount - p_charged, -p_amount, p_charged];
    v_kind text := CASE p_status WHEN 'captured' THEN 'capture' WHEN 'released' THEN 'release' ELSE 'expire' END;
    v_want int := (p_amount - p_charged <> 0)::int + (p_amount <> 0)::int + (p_charged <> 0)::int;
    v_r    int;
    v_a    int;
BEGIN
    -- Lock the user's accounts in name order (the order every writer uses).
    PERFORM 1 FROM accounts WHERE name = ANY (v_accs) ORDER BY name FOR UPDATE;
    WITH r AS (UPDATE reservations
                  SET status = p_status, captured = p_charged, returned = p_amount - p_charged, resolved_at = p_now
                WHERE id = p_id AND status = 'active' RETURNING 1),
         a AS (UPDATE accounts SET balance = balance + x.m
                 FROM unnest(v_accs, v_amts) AS x(n, m)
                WHERE name = x.n AND x.m <> 0 RETURNING 1),
         t AS (INSERT INTO journal_tx (kind, reservation_id, idempotency_key, created_at)
               VALUES (v_kind, p_id, p_key, p_now) RETURNING id),
         e AS (INSERT INTO journal_entries (tx_id, account, amount)
               SELECT t.id, x.n, x.m FROM t, unnest(v_accs, v_amts) AS x(n, m) WHERE x.m <> 0),
         i AS (INSERT INTO idempotency (key, op, fingerprint, result, created_at)
               SELECT p_key, v_kind, p_fp, p_body, p_now WHERE p_key IS NOT NULL)
    SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM a) INTO v_r, v_a;
    IF v_r <> 1 THEN
        RAISE EXCEPTION 'ledger: hold % is not active', p_id;
    ELSIF v_a <> v_want THEN
        RAISE EXCEPTION 'ledger: hold % of user % touches a missing account', p_id, p_user;
    END IF;
END $$;

-- ledger_hold locks a hold for capture/release, replays or rejects; outcome
-- NULL means "go ahead".
CREATE FUNCTION ledger_hold(p_res text, p_key text, p_fp text, p_now bigint,
                            OUT r reservations, OUT outcome text, OUT body text, OUT msg text)
LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    SELECT h AS res, i.op, i.fingerprint, i.result INTO v
      FROM reservations h LEFT JOIN idempotency i ON i.key = p_key
     WHERE h.id = p_res FOR UPDATE OF h;
    IF FOUND THEN
        r := v.res;
        IF v.fingerprint IS NOT NULL THEN
            IF v.fingerprint = p_fp THEN
                outcome := 'replay'; body := v.result;
            ELSE
                outcome := 'conflict'; body := v.op;
            END IF;
            msg := '';
            RETURN;
        END IF;
    END IF;
    IF r.id IS NULL OR r.status <> 'active' THEN
        -- The key may belong to a twin that resolved the hold while we waited
        -- for the lock (this statement sees its commit), or to another hold.
        SELECT k.outcome, k.body, '' INTO outcome, body, msg FROM ledger_key(p_key, p_fp) k;
        IF outcome IS NOT NULL THEN
            RETURN;
        END IF;
    END IF;
    IF r.id IS NULL THEN
        outcome := 'rejected'; body := 'RESERVATION_NOT_FOUND'; msg := format('reservation %L does not exist', p_res);
    ELSIF r.status = 'expired' THEN
        outcome := 'rejected'; body := 'HOLD_EXPIRED'; msg := format('reservation %L has expired', p_res);
    ELSIF r.status <> 'active' THEN
        outcome := 'rejected'; body := 'HOLD_NOT_ACTIVE'; msg := format('reservation %L is already %s', p_res, r.status);
    ELSIF p_now >= r.expires_at THEN
        -- Overdue but not swept yet: expire it now, exactly as the sweep would.
        PERFORM ledger_settle(r.id, r.user_id, r.amount, 'expired', 0, NULL, NULL, NULL, p_now);
        outcome := 'rejected'; body := 'HOLD_EXPIRED'; msg := format('reservation %L has expired', p_res);
    END IF;
END $$;

CREATE FUNCTION ledger_capture(p_key text, p_fp text, p_res text, p_up int, p_uc int, p_ut int,
                               p_now bigint, p_now_text text, OUT outcome text, OUT body text, OUT msg text)
LANGUAGE plpgsql AS $$
DECLARE
    h         record;
    r         reservations;
    v_charged bigint;
BEGIN
    SELECT * INTO h FROM ledger_hold(p_res, p_key, p_fp, p_now);
    IF h.outcome IS NOT NULL THEN
        outcome := h.outcome; body := h.body; msg := h.msg;
        RETURN;
    END IF;
    r := h.r;
    IF p_ut > r.max_tokens THEN
        outcome := 'rejected'; body := 'USAGE_EXCEEDS_RESERVATION';
        msg := format('usage %s tokens exceeds reservation %L max %s', p_ut, p_res, r.max_tokens);
        RETURN;
    END IF;
    -- Same rounding as Model.Cost: ceil once on the sum; capped at the hold.
    v_charged := LEAST((p_up::bigint * r.prompt_per_1k + p_uc::bigint * r.completion_per_1k + 999) / 1000, r.amount);
    body := json_build_object('reservationId', p_res,
        'usage', json_build_object('promptTokens', p_up, 'completionTokens', p_uc, 'totalTokens', p_ut),
        'charged', v_charged, 'returned', r.amount - v_charged, 'capturedAt', p_now_text)::text;
    PERFORM ledger_settle(r.id, r.user_id, r.amount, 'captured', v_charged, p_key, p_fp, body, p_now);
    outcome := 'ok'; msg := '';
END $$;

CREATE FUNCTION ledger_release(p_key text, p_fp text, p_res text, p_now bigint, p_now_text text,
                               OUT outcome text, OUT body text, OUT msg text)
LANGUAGE plpgsql AS $$
DECLARE
    h record;
    r reservations;
BEGIN
    SELECT * INTO h FROM ledger_hold(p_res, p_key, p_fp, p_now);
    IF h.outcome IS NOT NULL THEN
        outcome := h.outcome; body := h.body; msg := h.msg;
        RETURN;
    END IF;
    r := h.r;
    body := json_build_object('reservationId', p_res, 'returned', r.amount, 'releasedAt', p_now_text)::text;
    PERFORM ledger_settle(r.id, r.user_id, r.amount, 'released', 0, p_key, p_fp, body, p_now);
    outcome := 'ok'; msg := '';
END $$;

-- ledger_expire_holds expires up to p_limit overdue holds; holds locked by a
-- concurrent capture/release are skipped (that call resolves them).
CREATE FUNCTION ledger_expire_holds(p_now bigint, p_limit int)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    r reservations;
    n int := 0;
BEGIN
    FOR r IN SELECT * FROM reservations WHERE status = 'active' AND expires_at <= p_now
             ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
        PERFORM ledger_settle(r.id, r.user_id, r.amount, 'expired', 0, NULL, NULL, NULL, p_now);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
