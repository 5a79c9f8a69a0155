-- One function per ledger operation, so each operation is one round trip
-- and one implicit transaction. Concurrency: READ COMMITTED plus row locks
-- taken in a fixed order (hold row, then accounts by name). Each function
-- takes the lock that serialises its idempotency key's twins BEFORE looking
-- the key up, so a concurrent replay sees the first call's committed result.
-- A race the locks do not cover (first-ever account or key insert) ends in a
-- unique violation that the Go side retries.
--
-- Every function returns one row (outcome, body, msg):
--   ok       body = result JSON
--   replay   body = the first result JSON
--   conflict body = operation that owns the key
--   rejected body = reason, msg = detail (nothing changed, except that an
--            overdue hold met by capture/release is expired first)

-- ledger_post appends one balanced journal transaction and applies it to the
-- balances. Entries must come sorted by account (lock order); zeros skipped.
CREATE FUNCTION ledger_post(p_kind text, p_res text, p_key text, p_now bigint, p_user text,
                            p_accounts text[], p_kinds text[], p_amounts bigint[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_tx bigint;
    i    int;
BEGIN
    IF (SELECT COALESCE(SUM(a), 0) FROM unnest(p_amounts) a) <> 0 THEN
        RAISE EXCEPTION 'ledger: % transaction does not balance', p_kind;
    END IF;
    INSERT INTO journal_tx (kind, reservation_id, idempotency_key, created_at)
    VALUES (p_kind, p_res, p_key, p_now) RETURNING id INTO v_tx;
    FOR i IN 1 .. array_length(p_accounts, 1) LOOP
        CONTINUE WHEN p_amounts[i] = 0;
        UPDATE accounts SET balance = balance + p_amounts[i] WHERE name = p_accounts[i];
        IF NOT FOUND THEN
            INSERT INTO accounts (name, user_id, kind, balance)
            VALUES (p_accounts[i], CASE WHEN p_kinds[i] = 'funding' THEN NULL ELSE p_user END, p_kinds[i], p_amounts[i]);
        END IF;
        INSERT INTO journal_entries (tx_id, account, amount) VALUES (v_tx, p_accounts[i], p_amounts[i]);
    END LOOP;
    RETURN v_tx;
END $$;

-- ledger_key looks up an idempotency key: NULL if new, else (outcome, body).
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

CREATE FUNCTION ledger_credit(p_key text, p_fp text, p_user text, p_amount bigint, p_now bigint)
RETURNS TABLE (outcome text, body text, msg text) LANGUAGE plpgsql AS $$
DECLARE
    k record;
BEGIN
    PERFORM 1 FROM accounts WHERE name = 'funding' FOR UPDATE;
    SELECT * INTO k FROM ledger_key(p_key, p_fp);
    IF k.outcome IS NOT NULL THEN
        RETURN QUERY SELECT k.outcome, k.body, ''::text; RETURN;
    END IF;
    PERFORM ledger_post('credit', NULL, p_key, p_now, p_user,
        ARRAY['funding', 'user:' || p_user || ':available'], ARRAY['funding', 'available'], ARRAY[-p_amount, p_amount]);
    INSERT INTO idempotency (key, op, fingerprint, result, created_at) VALUES (p_key, 'credit', p_fp, '{}', p_now);
    RETURN QUERY SELECT 'ok'::text, '{}'::text, ''::text;
END $$;

CREATE FUNCTION ledger_reserve(p_key text, p_fp text, p_id text, p_user text, p_model text,
                               p_prompt int, p_max_tokens int, p_amount bigint, p_pp bigint, p_cp bigint,
                               p_max_completion int, p_now bigint, p_expires bigint, p_body text)
RETURNS TABLE (outcome text, body text, msg text) LANGUAGE plpgsql AS $$
DECLARE
    k       record;
    v_avail bigint;
BEGIN
    -- The user's available row serialises their reserves (and same-key twins).
    SELECT balance INTO v_avail FROM accounts WHERE name = 'user:' || p_user || ':available' FOR UPDATE;
    SELECT * INTO k FROM ledger_key(p_key, p_fp);
    IF k.outcome IS NOT NULL THEN
        RETURN QUERY SELECT k.outcome, k.body, ''::text; RETURN;
    END IF;
    IF COALESCE(v_avail, 0) < p_amount THEN
        RETURN QUERY SELECT 'rejected'::text, 'INSUFFICIENT_CREDITS'::text,
            format('user %L has %s available, hold needs %s', p_user, COALESCE(v_avail, 0), p_amount);
        RETURN;
    END IF;
    INSERT INTO reservations (id, user_id, model_id, prompt_tokens, max_tokens, amount, prompt_per_1k,
                              completion_per_1k, max_completion_tokens, status, created_at, expires_at)
    VALUES (p_id, p_user, p_model, p_prompt, p_max_tokens, p_amount, p_pp, p_cp, p_max_completion,
            'active', p_now, p_expires);
    PERFORM ledger_post('reserve', p_id, p_key, p_now, p_user,
        ARRAY['user:' || p_user || ':available', 'user:' || p_user || ':held'],
        ARRAY['available', 'held'], ARRAY[-p_amount, p_amount]);
    INSERT INTO idempotency (key, op, fingerprint, result, created_at) VALUES (p_key, 'reserve', p_fp, p_body, p_now);
    RETURN QUERY SELECT 'ok'::text, p_body, ''::text;
END $$;

-- ledger_resolve_hold moves a locked active hold to a final status.
CREATE FUNCTION ledger_resolve_hold(r reservations, p_status text, p_charged bigint, p_key text, p_now bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_returned bigint := r.amount - p_charged;
BEGIN
    UPDATE reservations SET status = p_status, captured = p_charged, returned = v_returned, resolved_at = p_now
     WHERE id = r.id AND status = 'active';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger: hold % is not active', r.id;
    END IF;
    PERFORM ledger_post(CASE p_status WHEN 'captured' THEN 'capture' WHEN 'released' THEN 'release' ELSE 'expire' END,
        r.id, p_key, p_now, r.user_id,
        ARRAY['user:' || r.user_id || ':available', 'user:' || r.user_id || ':held', 'user:' || r.user_id || ':spent'],
        ARRAY['available', 'held', 'spent'], ARRAY[v_returned, -r.amount, p_charged]);
END $$;

-- ledger_hold locks a hold for capture/release and applies resolve-once.
-- Returns (r, outcome, body, msg); outcome NULL means "go ahead".
CREATE FUNCTION ledger_hold(p_res text, p_key text, p_fp text, p_now bigint,
                            OUT r reservations, OUT outcome text, OUT body text, OUT msg text)
LANGUAGE plpgsql AS $$
DECLARE
    k record;
BEGIN
    SELECT * INTO r FROM reservations WHERE id = p_res FOR UPDATE;
    SELECT * INTO k FROM ledger_key(p_key, p_fp);
    IF k.outcome IS NOT NULL THEN
        outcome := k.outcome; body := k.body; msg := ''; RETURN;
    END IF;
    IF r.id IS NULL THEN
        outcome := 'rejected'; body := 'RESERVATION_NOT_FOUND'; msg := format('reservation %L does not exist', p_res);
    ELSIF r.status = 'expired' THEN
        outcome := 'rejected'; body := 'HOLD_EXPIRED'; msg := format('reservation %L has expired', p_res);
    ELSIF r.status <> 'active' THEN
        outcome := 'rejected'; body := 'HOLD_NOT_ACTIVE'; msg := format('reservation %L is already %s', p_res, r.status);
    ELSIF p_now >= r.expires_at THEN
        -- Overdue but not swept yet: expire it now, exactly as the sweep would.
        PERFORM ledger_resolve_hold(r, 'expired', 0, NULL, p_now);
        outcome := 'rejected'; body := 'HOLD_EXPIRED'; msg := format('reservation %L has expired', p_res);
    END IF;
END $$;

CREATE FUNCTION ledger_capture(p_key text, p_fp text, p_res text, p_up int, p_uc int, p_ut int,
                               p_now bigint, p_now_text text)
RETURNS TABLE (outcome text, body text, msg text) LANGUAGE plpgsql AS $$
DECLARE
    h         record;
    v_charged bigint;
    v_body    text;
BEGIN
    SELECT * INTO h FROM ledger_hold(p_res, p_key, p_fp, p_now);
    IF h.outcome IS NOT NULL THEN
        RETURN QUERY SELECT h.outcome, h.body, h.msg; RETURN;
    END IF;
    IF p_ut > (h.r).max_tokens THEN
        RETURN QUERY SELECT 'rejected'::text, 'USAGE_EXCEEDS_RESERVATION'::text,
            format('usage %s tokens exceeds reservation %L max %s', p_ut, p_res, (h.r).max_tokens);
        RETURN;
    END IF;
    -- Same rounding as Model.Cost: ceil once on the sum; capped at the hold.
    v_charged := LEAST((p_up::bigint * (h.r).prompt_per_1k + p_uc::bigint * (h.r).completion_per_1k + 999) / 1000,
                       (h.r).amount);
    PERFORM ledger_resolve_hold(h.r, 'captured', v_charged, p_key, p_now);
    v_body := json_build_object('reservationId', p_res,
        'usage', json_build_object('promptTokens', p_up, 'completionTokens', p_uc, 'totalTokens', p_ut),
        'charged', v_charged, 'returned', (h.r).amount - v_charged, 'capturedAt', p_now_text)::text;
    INSERT INTO idempotency (key, op, fingerprint, result, created_at) VALUES (p_key, 'capture', p_fp, v_body, p_now);
    RETURN QUERY SELECT 'ok'::text, v_body, ''::text;
END $$;

CREATE FUNCTION ledger_release(p_key text, p_fp text, p_res text, p_now bigint, p_now_text text)
RETURNS TABLE (outcome text, body text, msg text) LANGUAGE plpgsql AS $$
DECLARE
    h      record;
    v_body text;
BEGIN
    SELECT * INTO h FROM ledger_hold(p_res, p_key, p_fp, p_now);
    IF h.outcome IS NOT NULL THEN
        RETURN QUERY SELECT h.outcome, h.body, h.msg; RETURN;
    END IF;
    PERFORM ledger_resolve_hold(h.r, 'released', 0, p_key, p_now);
    v_body := json_build_object('reservationId', p_res, 'returned', (h.r).amount, 'releasedAt', p_now_text)::text;
    INSERT INTO idempotency (key, op, fingerprint, result, created_at) VALUES (p_key, 'release', p_fp, v_body, p_now);
    RETURN QUERY SELECT 'ok'::text, v_body, ''::text;
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
        PERFORM ledger_resolve_hold(r, 'expired', 0, NULL, p_now);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
