package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DLQ records and job states: the saga's reconciliation data, kept in the
// ledger store so one database holds all billing state.

func (l *pgLedger) exec(ctx context.Context, what, q string, args ...any) (int64, error) {
	var n int64
	err := l.with(ctx, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, q, args...)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: postgres %s: %w", what, err)
	}
	return n, nil
}

func (l *pgLedger) PutDLQ(ctx context.Context, rec DLQRecord) (bool, error) {
	if err := validateDLQ(rec); err != nil {
		return false, err
	}
	now := micros(l.now())
	n, err := l.exec(ctx, "put dlq", `INSERT INTO dlq (type, job_id, schema_version, payload, created_at, updated_at)
		VALUES ($1, $2, $3, $4::jsonb, $5, $5) ON CONFLICT (type, job_id, schema_version) DO NOTHING`,
		rec.Type, rec.JobID, rec.SchemaVersion, string(rec.Payload), now)
	return n == 1, err
}

const pgDLQCols = `type, job_id, schema_version, payload::text, status, attempts, note, created_at, updated_at`

func (l *pgLedger) DLQ(ctx context.Context, typ, jobID string, version int) (DLQRecord, error) {
	if err := validateDLQKey(typ, jobID, version); err != nil {
		return DLQRecord{}, err
	}
	var d DLQRecord
	err := l.with(ctx, func(c *pgx.Conn) error {
		var err error
		d, err = scanDLQ(c.QueryRow(ctx, `SELECT `+pgDLQCols+` FROM dlq WHERE type = $1 AND job_id = $2 AND schema_version = $3`,
			typ, jobID, version))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return DLQRecord{}, reject(ReasonNotFound, "no DLQ record %s/%s/v%d", typ, jobID, version)
	}
	if err != nil {
		return DLQRecord{}, fmt.Errorf("ledger: postgres dlq: %w", err)
	}
	return d, nil
}

func (l *pgLedger) ListDLQ(ctx context.Context, status DLQStatus) ([]DLQRecord, error) {
	if status != "" && !validDLQStatus(status) {
		return nil, reject(ReasonInvalidArgument, "unknown DLQ status %q", status)
	}
	var out []DLQRecord
	err := l.with(ctx, func(c *pgx.Conn) error {
		out = nil
		rows, err := c.Query(ctx, `SELECT `+pgDLQCols+` FROM dlq WHERE $1 = '' OR status = $1
			ORDER BY created_at, type, job_id, schema_version`, string(status))
		if err != nil {
			return err
		}
		out, err = pgx.AppendRows([]DLQRecord(nil), rows, pgRowTo(scanDLQ))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: postgres list dlq: %w", err)
	}
	return out, nil
}

func (l *pgLedger) MarkDLQ(ctx context.Context, typ, jobID string, version int, status DLQStatus, note string) error {
	if err := validateDLQKey(typ, jobID, version); err != nil {
		return err
	}
	if !validDLQStatus(status) {
		return reject(ReasonInvalidArgument, "unknown DLQ status %q", status)
	}
	n, err := l.exec(ctx, "mark dlq", `UPDATE dlq SET status = $1, note = $2, updated_at = $3
		WHERE type = $4 AND job_id = $5 AND schema_version = $6`,
		string(status), note, micros(l.now()), typ, jobID, version)
	if err != nil {
		return err
	}
	if n == 0 {
		return reject(ReasonNotFound, "no DLQ record %s/%s/v%d", typ, jobID, version)
	}
	return nil
}

func (l *pgLedger) RecordDLQAttempt(ctx context.Context, typ, jobID string, version int) (int, error) {
	if err := validateDLQKey(typ, jobID, version); err != nil {
		return 0, err
	}
	var n int
	err := l.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `UPDATE dlq SET attempts = attempts + 1, updated_at = $1
			WHERE type = $2 AND job_id = $3 AND schema_version = $4 RETURNING attempts`,
			micros(l.now()), typ, jobID, version).Scan(&n)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, reject(ReasonNotFound, "no DLQ record %s/%s/v%d", typ, jobID, version)
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: postgres dlq attempt: %w", err)
	}
	return n, nil
}

func (l *pgLedger) SetJobState(ctx context.Context, jobID, state string) error {
	if err := validateJobState(jobID, state); err != nil {
		return err
	}
	_, err := l.exec(ctx, "set job state", `INSERT INTO job_states (job_id, state, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
		jobID, state, micros(l.now()))
	return err
}

func (l *pgLedger) JobState(ctx context.Context, jobID string) (string, error) {
	if err := checkID("jobID", jobID); err != nil {
		return "", err
	}
	var s string
	err := l.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT state FROM job_states WHERE job_id = $1`, jobID).Scan(&s)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("ledger: postgres job state: %w", err)
	}
	return s, nil
}
