package ledger

import (
	"context"
	"database/sql"
	"fmt"
)

// ClaimJob inserts the claim unless the job has one and reads who holds it,
// in one write transaction (SQLite has one writer: no race between them).
func (l *sqliteLedger) ClaimJob(ctx context.Context, jobID, runID string) error {
	if err := validateClaim(jobID, runID); err != nil {
		return err
	}
	var holder string
	err := l.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO job_claims (job_id, run_id, claimed_at) VALUES (?, ?, ?)
			ON CONFLICT (job_id) DO NOTHING`, jobID, runID, micros(l.now())); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT run_id FROM job_claims WHERE job_id = ?`, jobID).Scan(&holder)
	})
	if err != nil {
		return fmt.Errorf("ledger: claim job %s: %w", jobID, err)
	}
	return claimOutcome(jobID, runID, holder)
}
