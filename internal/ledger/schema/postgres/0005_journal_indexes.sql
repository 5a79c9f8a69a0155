-- The journal's secondary indexes go: they were written on every operation
-- (nine of a reserve+capture pair's eighteen index insertions) and read only
-- by Audit, whose checks scan and hash-join whole tables anyway.
--
-- What each one guarded stays guarded:
--   journal_tx.idempotency_key UNIQUE: every keyed journal transaction is
--     written in the same statement as its idempotency row, whose primary key
--     already admits one per key; Audit still reports a key with other than
--     one transaction.
--   journal_tx_reservation: no ledger function looks journal transactions up
--     by hold; Audit's per-hold checks group the whole table.
--   journal_entries primary key (tx_id, account): entries are written only by
--     the ledger functions, one per account and transaction; Audit still
--     checks that every transaction sums to zero and every account's balance
--     equals its entries.
ALTER TABLE journal_tx DROP CONSTRAINT journal_tx_idempotency_key_key;
DROP INDEX journal_tx_reservation;
ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_pkey;
