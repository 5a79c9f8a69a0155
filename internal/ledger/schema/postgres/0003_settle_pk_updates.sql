-- ledger_settle v2: the account updates are one primary-key UPDATE per
-- account, in name order (available < held < spent, the lock order every
-- writer uses), instead of "lock all three ORDER BY name" followed by
-- "UPDATE accounts ... FROM unnest(names, amounts)". The unnest forms got a
-- custom plan on every call (the generic plan's row estimate for the arrays
-- lost) and, on a small accounts table, a hash join over a sequential scan;
-- the journal entries come from a VALUES list for the same reason. Same
-- behaviour: zero amounts leave their account alone, a missing account with
-- a non-zero amount raises, a hold that is not active raises.
--
-- (A new migration rather than an edit of 0002: applied migrations are never
-- re-run, and CREATE OR REPLACE keeps the signature every caller uses.)
CREATE OR REPLACE FUNCTION ledger_settle(p_id text, p_user text, p_amount bigint, p_status text, p_charged bigint,
                              p_key text, p_fp text, p_body text, p_now bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_avail text := 'user:' || p_user || ':available';
    v_held  text := 'user:' || p_user || ':held';
    v_spent text := 'user:' || p_user || ':spent';
    v_back  bigint := p_amount - p_charged;
    v_kind  text := CASE p_status WHEN 'captured' THEN 'capture' WHEN 'released' THEN 'release' ELSE 'expire' END;
    v_r     int;
BEGIN
    -- One UPDATE per account in name order (available < held < spent), the
    -- lock order every writer uses; each is a primary-key lookup.
    IF v_back <> 0 THEN
        UPDATE accounts SET balance = balance + v_back WHERE name = v_avail;
        IF NOT FOUND THEN RAISE EXCEPTION 'ledger: account % does not exist', v_avail; END IF;
    END IF;
    IF p_amount <> 0 THEN
        UPDATE accounts SET balance = balance - p_amount WHERE name = v_held;
        IF NOT FOUND THEN RAISE EXCEPTION 'ledger: account % does not exist', v_held; END IF;
    END IF;
    IF p_charged <> 0 THEN
        UPDATE accounts SET balance = balance + p_charged WHERE name = v_spent;
        IF NOT FOUND THEN RAISE EXCEPTION 'ledger: account % does not exist', v_spent; END IF;
    END IF;
    WITH r AS (UPDATE reservations
                  SET status = p_status, captured = p_charged, returned = v_back, resolved_at = p_now
                WHERE id = p_id AND status = 'active' RETURNING 1),
         t AS (INSERT INTO journal_tx (kind, reservation_id, idempotency_key, created_at)
               VALUES (v_kind, p_id, p_key, p_now) RETURNING id),
         e AS (INSERT INTO journal_entries (tx_id, account, amount)
               SELECT t.id, x.n, x.m FROM t, (VALUES (v_avail, v_back), (v_held, -p_amount), (v_spent, p_charged)) AS x(n, m)
                WHERE x.m <> 0),
         i AS (INSERT INTO idempotency (key, op, fingerprint, result, created_at)
               SELECT p_key, v_kind, p_fp, p_body, p_now WHERE p_key IS NOT NULL)
    SELECT count(*) INTO v_r FROM r;
    IF v_r <> 1 THEN
        RAISE EXCEPTION 'ledger: hold % is not active', p_id;
    END IF;
END $$;
