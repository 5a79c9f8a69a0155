-- Job claims: which workflow run owns a billed job (ClaimJob). The first
-- claim of a job id is kept for good; the saga claims before it reserves, so
-- a second run of the job is refused before any model call or hold.
-- Self-contained: no function of 0002/0003 reads or writes this table.
CREATE TABLE job_claims (
    job_id     text PRIMARY KEY,
    run_id     text NOT NULL,
    claimed_at bigint NOT NULL
);
