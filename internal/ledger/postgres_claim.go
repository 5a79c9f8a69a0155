package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ClaimJob inserts the claim unless the job has one, then reads who holds
// it. Under READ COMMITTED a racing first claim makes the INSERT wait for
// the other transaction and do nothing; the SELECT, a new statement, then
// sees the winner. A replayed claim writes nothing.
func (l *pgLedger) ClaimJob(ctx context.Context, jobID, runID string) error {
	if err := validateClaim(jobID, runID); err != nil {
		return err
	}
	var holder string
	err := l.with(ctx, func(c *pgx.Conn) error {
		err := c.QueryRow(ctx, `INSERT INTO job_claims (job_id, run_id, claimed_at) VALUES ($1, $2, $3)
			ON CONFLICT (job_id) DO NOTHING RETURNING run_id`, jobID, runID, micros(l.now())).Scan(&holder)
		if errors.Is(err, pgx.ErrNoRows) {
			err = c.QueryRow(ctx, `SELECT run_id FROM job_claims WHERE job_id = $1`, jobID).Scan(&holder)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: postgres claim job %s: %w", jobID, err)
	}
	return claimOutcome(jobID, runID, holder)
}
