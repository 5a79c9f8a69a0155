-- Ledger schema v1 (SQLite). Times are unix microseconds, money is integer
-- micro-credits.

-- Materialised balances; the journal is the source of truth (Audit compares).
CREATE TABLE accounts (
    name    TEXT PRIMARY KEY,
    user_id TEXT,
    kind    TEXT NOT NULL CHECK (kind IN ('available', 'held', 'spent', 'funding')),
    balance INTEGER NOT NULL DEFAULT 0,
    -- Last line of defence: only the funding source may go negative.
    CHECK (kind = 'funding' OR balance >= 0)
) WITHOUT ROWID;

CREATE TABLE journal_tx (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('credit', 'reserve', 'capture', 'release', 'expire')),
    reservation_id  TEXT,
    idempotency_key TEXT UNIQUE,
    created_at      INTEGER NOT NULL
);
CREATE INDEX journal_tx_reservation ON journal_tx (reservation_id);

CREATE TABLE journal_entries (
    tx_id   INTEGER NOT NULL REFERENCES journal_tx (id),
    account TEXT NOT NULL,
    amount  INTEGER NOT NULL,
    PRIMARY KEY (tx_id, account)
) WITHOUT ROWID;

-- The journal is append-only.
CREATE TRIGGER journal_tx_no_update BEFORE UPDATE ON journal_tx
BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER journal_tx_no_delete BEFORE DELETE ON journal_tx
BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER journal_entries_no_delete BEFORE DELETE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;

CREATE TABLE reservations (
    id                    TEXT PRIMARY KEY,
    user_id               TEXT NOT NULL,
    model_id              TEXT NOT NULL,
    prompt_tokens         INTEGER NOT NULL,
    max_tokens            INTEGER NOT NULL,
    amount                INTEGER NOT NULL CHECK (amount >= 0),
    prompt_per_1k         INTEGER NOT NULL,
    completion_per_1k     INTEGER NOT NULL,
    max_completion_tokens INTEGER NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('active', 'captured', 'released', 'expired')),
    captured              INTEGER NOT NULL DEFAULT 0,
    returned              INTEGER NOT NULL DEFAULT 0,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    resolved_at           INTEGER NOT NULL DEFAULT 0,
    CHECK (captured >= 0 AND returned >= 0 AND captured + returned <= amount)
) WITHOUT ROWID;
CREATE INDEX reservations_user ON reservations (user_id, created_at);
CREATE INDEX reservations_active_expiry ON reservations (expires_at) WHERE status = 'active';

-- One row per key that had an effect; the fingerprint detects reuse with
-- different parameters, result is the first response (JSON) for replays.
CREATE TABLE idempotency (
    key         TEXT PRIMARY KEY,
    op          TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE dlq (
    type           TEXT NOT NULL,
    job_id         TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'escalated')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    note           TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (type, job_id, schema_version)
) WITHOUT ROWID;
CREATE INDEX dlq_status ON dlq (status, created_at);

CREATE TABLE job_states (
    job_id     TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
