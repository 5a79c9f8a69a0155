-- Job claims: which workflow run owns a billed job (ClaimJob). The first
-- claim of a job id is kept for good; the saga claims before it reserves, so
-- a second run of the job is refused before any model call or hold.
CREATE TABLE job_claims (
    job_id     TEXT PRIMARY KEY,
    run_id     TEXT NOT NULL,
    claimed_at INTEGER NOT NULL
) WITHOUT ROWID;
