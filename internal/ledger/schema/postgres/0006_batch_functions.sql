-- ledger_reserve_many and ledger_capture_many run a batch of reserves or
-- captures (a lane's concurrent calls, see postgres.go) as one statement
-- each: the per-statement work of the one-call functions (an executor start
-- per UPDATE and INSERT, a function call per operation) was most of the
-- ledger's server CPU. They take the common path only: an operation whose
-- key was seen before or appears twice in the batch, a hold that is not
-- active, overdue or over its tokens, a user without the credit for all of
-- the batch's holds: each of these comes back 'single', and the caller runs
-- it afterwards through ledger_reserve or ledger_capture, which give every
-- outcome exactly. Running it after the batch is a valid order: the calls of
-- one batch were concurrent, none waiting on another.
--
-- Each returns (ord, outcome, body, msg) per operation, in argument order,
-- outcome 'ok' or 'single'. ledger_assert turns an inconsistency (a held
-- account missing, a hold no longer active when updated) into an error, which
-- aborts the whole batch; the caller then runs every call on its own.
CREATE FUNCTION ledger_assert(p_ok boolean, p_msg text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF NOT p_ok THEN
        RAISE EXCEPTION 'ledger: %', p_msg;
    END IF;
    RETURN true;
END $$;

CREATE FUNCTION ledger_reserve_many(p_keys text[], p_fps text[], p_ids text[], p_users text[], p_models text[],
                                    p_prompt int[], p_max_tokens int[], p_amounts bigint[], p_pp bigint[],
                                    p_cp bigint[], p_max_completion int[], p_now bigint[], p_expires bigint[],
                                    p_bodies text[])
RETURNS TABLE (ord int, outcome text, body text, msg text)
LANGUAGE plpgsql
-- A generic plan, made once per connection: a custom plan per call would
-- cost more than the statements it replaces.
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH x AS (
        SELECT * FROM unnest(p_keys, p_fps, p_ids, p_users, p_models, p_prompt, p_max_tokens, p_amounts,
                             p_pp, p_cp, p_max_completion, p_now, p_expires, p_bodies) WITH ORDINALITY
               AS x(key, fp, id, usr, model, prompt, maxt, amount, pp, cp, maxc, now, expires, body, n)),
    fresh AS (
        SELECT x.* FROM x
         WHERE NOT EXISTS (SELECT 1 FROM idempotency i WHERE i.key = x.key)
           AND (SELECT count(*) FROM x y WHERE y.key = x.key) = 1),
    want AS (SELECT usr, sum(amount) AS s FROM fresh GROUP BY usr),
    -- The debit is the balance check and the lock, for all of a user's holds.
    debit AS (
        UPDATE accounts a SET balance = a.balance - w.s FROM want w
         WHERE a.name = 'user:' || w.usr || ':available' AND a.balance >= w.s
        RETURNING w.usr, w.s),
    go AS (SELECT f.* FROM fresh f JOIN debit d ON d.usr = f.usr),
    held AS (
        UPDATE accounts a SET balance = a.balance + d.s FROM debit d
         WHERE a.name = 'user:' || d.usr || ':held' AND d.s > 0
        RETURNING 1),
    r AS (
        INSERT INTO reservations (id, user_id, model_id, prompt_tokens, max_tokens, amount, prompt_per_1k,
                                  completion_per_1k, max_completion_tokens, status, created_at, expires_at)
        SELECT id, usr, model, prompt, maxt, amount, pp, cp, maxc, 'active', now, expires FROM go),
    t AS (
        INSERT INTO journal_tx (kind, reservation_id, idempotency_key, created_at)
        SELECT 'reserve', id, key, now FROM go
        RETURNING id AS tx, reservation_id),
    e AS (
        INSERT INTO journal_entries (tx_id, account, amount)
        SELECT t.tx, v.acc, v.amt
          FROM t JOIN go ON go.id = t.reservation_id,
               LATERAL (VALUES ('user:' || go.usr || ':available', -go.amount),
                               ('user:' || go.usr || ':held', go.amount)) AS v(acc, amt)
         WHERE go.amount > 0),
    i AS (
        INSERT INTO idempotency (key, op, fingerprint, result, created_at)
        SELECT key, 'reserve', fp, go.body, now FROM go)
    SELECT x.n::int,
           CASE WHEN go.n IS NULL THEN 'single' ELSE 'ok' END,
           COALESCE(go.body, ''), ''
      FROM x LEFT JOIN go ON go.n = x.n
     WHERE ledger_assert((SELECT count(*) FROM held) = (SELECT count(*) FROM debit WHERE s > 0),
                         'a user''s held account is missing')
     ORDER BY x.n;
END $$;

CREATE FUNCTION ledger_capture_many(p_keys text[], p_fps text[], p_ids text[], p_up int[], p_uc int[], p_ut int[],
                                    p_now bigint[], p_now_text text[])
RETURNS TABLE (ord int, outcome text, body text, msg text)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH x AS (
        SELECT * FROM unnest(p_keys, p_fps, p_ids, p_up, p_uc, p_ut, p_now, p_now_text) WITH ORDINALITY
               AS x(key, fp, id, up, uc, ut, now, now_text, n)),
    h AS (
        SELECT r.id, r.user_id, r.amount, x.key, x.fp, x.up, x.uc, x.ut, x.now, x.now_text, x.n,
               -- Same rounding as Model.Cost: ceil once on the sum; capped at the hold.
               LEAST((x.up::bigint * r.prompt_per_1k + x.uc::bigint * r.completion_per_1k + 999) / 1000,
                     r.amount) AS charged
          FROM x JOIN reservations r ON r.id = x.id
         WHERE r.status = 'active' AND r.expires_at > x.now AND x.ut <= r.max_tokens
           AND NOT EXISTS (SELECT 1 FROM idempotency i WHERE i.key = x.key)
           AND (SELECT count(*) FROM x y WHERE y.key = x.key OR y.id = x.id) = 1
           FOR UPDATE OF r),
    b AS (
        SELECT h.*, json_build_object('reservationId', h.id,
                   'usage', json_build_object('promptTokens', h.up, 'completionTokens', h.uc, 'totalTokens', h.ut),
                   'charged', h.charged, 'returned', h.amount - h.charged, 'capturedAt', h.now_text)::text AS body
          FROM h),
    moves AS (
        SELECT h.id, v.acc, v.amt
          FROM h, LATERAL (VALUES ('user:' || h.user_id || ':available', h.amount - h.charged),
                                  ('user:' || h.user_id || ':held', -h.amount),
                                  ('user:' || h.user_id || ':spent', h.charged)) AS v(acc, amt)
         WHERE v.amt <> 0),
    d AS (SELECT acc, sum(amt) AS amt FROM moves GROUP BY acc),
    a AS (
        UPDATE accounts SET balance = balance + d.amt FROM d
         WHERE accounts.name = d.acc AND d.amt <> 0
        RETURNING 1),
    r AS (
        UPDATE reservations SET status = 'captured', captured = h.charged, returned = h.amount - h.charged,
                                resolved_at = h.now
          FROM h WHERE reservations.id = h.id AND reservations.status = 'active'
        RETURNING 1),
    t AS (
        INSERT INTO journal_tx (kind, reservation_id, idempotency_key, created_at)
        SELECT 'capture', id, key, now FROM h
        RETURNING id AS tx, reservation_id),
    e AS (
        INSERT INTO journal_entries (tx_id, account, amount)
        SELECT t.tx, m.acc, m.amt FROM t JOIN moves m ON m.id = t.reservation_id),
    i AS (
        INSERT INTO idempotency (key, op, fingerprint, result, created_at)
        SELECT key, 'capture', fp, b.body, now FROM b)
    SELECT x.n::int,
           CASE WHEN b.n IS NULL THEN 'single' ELSE 'ok' END,
           COALESCE(b.body, ''), ''
      FROM x LEFT JOIN b ON b.n = x.n
     WHERE ledger_assert((SELECT count(*) FROM r) = (SELECT count(*) FROM h), 'a hold changed while captured')
       AND ledger_assert((SELECT count(*) FROM a) = (SELECT count(*) FROM d WHERE amt <> 0),
                         'a user''s account is missing')
     ORDER BY x.n;
END $$;
