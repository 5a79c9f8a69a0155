-- Ledger schema v1 (PostgreSQL). Times are unix microseconds (as in the
-- SQLite backend, so both share one clock and one Audit), money is integer
-- micro-credits.

CREATE TABLE accounts (
    name    text PRIMARY KEY,
    user_id text,
    kind    text NOT NULL CHECK (kind IN ('available', 'held', 'spent', 'funding')),
    balance bigint NOT NULL DEFAULT 0,
    -- Last line of defence: only the funding source may go negative.
    CHECK (kind = 'funding' OR balance >= 0)
) WITH (fillfactor = 20); -- few rows per page: less buffer contention, room for HOT updates

CREATE TABLE journal_tx (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('credit', 'reserve', 'capture', 'release', 'expire')),
    reservation_id  text,
    idempotency_key text UNIQUE,
    created_at      bigint NOT NULL
);
CREATE INDEX journal_tx_reservation ON journal_tx (reservation_id);

-- No foreign key to journal_tx: only ledger functions write here, in the
-- same statement as the transaction row, and an RI trigger per entry costs
-- more than the rest of the insert. Audit checks for orphans instead.
CREATE TABLE journal_entries (
    tx_id   bigint NOT NULL,
    account text NOT NULL,
    amount  bigint NOT NULL,
    PRIMARY KEY (tx_id, account)
);

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'journal is append-only (% on %)', TG_OP, TG_TABLE_NAME;
END $$;
CREATE TRIGGER journal_tx_append_only BEFORE UPDATE OR DELETE ON journal_tx
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

CREATE TABLE reservations (
    id                    text PRIMARY KEY,
    user_id               text NOT NULL,
    model_id              text NOT NULL,
    prompt_tokens         integer NOT NULL,
    max_tokens            integer NOT NULL,
    amount                bigint NOT NULL CHECK (amount >= 0),
    prompt_per_1k         bigint NOT NULL,
    completion_per_1k     bigint NOT NULL,
    max_completion_tokens integer NOT NULL,
    status                text NOT NULL CHECK (status IN ('active', 'captured', 'released', 'expired')),
    captured              bigint NOT NULL DEFAULT 0,
    returned              bigint NOT NULL DEFAULT 0,
    created_at            bigint NOT NULL,
    expires_at            bigint NOT NULL,
    resolved_at           bigint NOT NULL DEFAULT 0,
    CHECK (captured >= 0 AND returned >= 0 AND captured + returned <= amount)
);
CREATE INDEX reservations_user ON reservations (user_id, created_at);
CREATE INDEX reservations_active_expiry ON reservations (expires_at) WHERE status = 'active';

CREATE TABLE idempotency (
    key         text PRIMARY KEY,
    op          text NOT NULL,
    fingerprint text NOT NULL,
    result      text NOT NULL,
    created_at  bigint NOT NULL
);

CREATE TABLE dlq (
    type           text NOT NULL,
    job_id         text NOT NULL,
    schema_version integer NOT NULL,
    payload        jsonb NOT NULL,
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'escalated')),
    attempts       integer NOT NULL DEFAULT 0,
    note           text NOT NULL DEFAULT '',
    created_at     bigint NOT NULL,
    updated_at     bigint NOT NULL,
    PRIMARY KEY (type, job_id, schema_version)
);
CREATE INDEX dlq_status ON dlq (status, created_at);

CREATE TABLE job_states (
    job_id     text PRIMARY KEY,
    state      text NOT NULL,
    updated_at bigint NOT NULL
);
