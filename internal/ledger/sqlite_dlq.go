package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// DLQ records and job states: the saga's reconciliation data, kept in the
// ledger store so one database holds all billing state.

func (l *sqliteLedger) PutDLQ(ctx context.Context, rec DLQRecord) (bool, error) {
	if err := validateDLQ(rec); err != nil {
		return false, err
	}
	now := micros(l.now())
	res, err := l.w.ExecContext(ctx, `INSERT INTO dlq (type, job_id, schema_version, payload, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (type, job_id, schema_version) DO NOTHING`,
		rec.Type, rec.JobID, rec.SchemaVersion, string(rec.Payload), now, now)
	if err != nil {
		return false, fmt.Errorf("ledger: put dlq: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("ledger: put dlq: %w", err)
	}
	return n == 1, nil
}

const sqlDLQCols = `type, job_id, schema_version, payload, status, attempts, note, created_at, updated_at`

func scanDLQ(row rowScanner) (DLQRecord, error) {
	var d DLQRecord
	var payload, status string
	var created, updated int64
	if err := row.Scan(&d.Type, &d.JobID, &d.SchemaVersion, &payload, &status, &d.Attempts, &d.Note, &created, &updated); err != nil {
		return DLQRecord{}, err
	}
	d.Payload, d.Status = json.RawMessage(payload), DLQStatus(status)
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	return d, nil
}

func (l *sqliteLedger) DLQ(ctx context.Context, typ, jobID string, version int) (DLQRecord, error) {
	if err := validateDLQKey(typ, jobID, version); err != nil {
		return DLQRecord{}, err
	}
	d, err := scanDLQ(l.r.QueryRowContext(ctx, `SELECT `+sqlDLQCols+` FROM dlq WHERE type = ? AND job_id = ? AND schema_version = ?`,
		typ, jobID, version))
	if errors.Is(err, sql.ErrNoRows) {
		return DLQRecord{}, reject(ReasonNotFound, "no DLQ record %s/%s/v%d", typ, jobID, version)
	}
	if err != nil {
		return DLQRecord{}, fmt.Errorf("ledger: dlq: %w", err)
	}
	return d, nil
}

func (l *sqliteLedger) ListDLQ(ctx context.Context, status DLQStatus) ([]DLQRecord, error) {
	if status != "" && !validDLQStatus(status) {
		return nil, reject(ReasonInvalidArgument, "unknown DLQ status %q", status)
	}
	rows, err := l.r.QueryContext(ctx, `SELECT `+sqlDLQCols+` FROM dlq WHERE ? = '' OR status = ? ORDER BY created_at, type, job_id, schema_version`,
		string(status), string(status))
	if err != nil {
		return nil, fmt.Errorf("ledger: list dlq: %w", err)
	}
	out, err := collectRows(rows, scanDLQ)
	if err != nil {
		return nil, fmt.Errorf("ledger: list dlq: %w", err)
	}
	return out, nil
}

func (l *sqliteLedger) MarkDLQ(ctx context.Context, typ, jobID string, version int, status DLQStatus, note string) error {
	if err := validateDLQKey(typ, jobID, version); err != nil {
		return err
	}
	if !validDLQStatus(status) {
		return reject(ReasonInvalidArgument, "unknown DLQ status %q", status)
	}
	res, err := l.w.ExecContext(ctx, `UPDATE dlq SET status = ?, note = ?, updated_at = ? WHERE type = ? AND job_id = ? AND schema_version = ?`,
		string(status), note, micros(l.now()), typ, jobID, version)
	if err != nil {
		return fmt.Errorf("ledger: mark dlq: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("ledger: mark dlq: %w", err)
	} else if n == 0 {
		return reject(ReasonNotFound, "no DLQ record %s/%s/v%d", typ, jobID, version)
	}
	return nil
}

func (l *sqliteLedger) RecordDLQAttempt(ctx context.Context, typ, jobID string, version int) (int, error) {
	if err := validateDLQKey(typ, jobID, version); err != nil {
		return 0, err
	}
	var n int
	err := l.w.QueryRowContext(ctx, `UPDATE dlq SET attempts = attempts + 1, updated_at = ?
		WHERE type = ? AND job_id = ? AND schema_version = ? RETURNING attempts`,
		micros(l.now()), typ, jobID, version).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, reject(ReasonNotFound, "no DLQ record %s/%s/v%d", typ, jobID, version)
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: dlq attempt: %w", err)
	}
	return n, nil
}

func (l *sqliteLedger) SetJobState(ctx context.Context, jobID, state string) error {
	if err := validateJobState(jobID, state); err != nil {
		return err
	}
	if _, err := l.w.ExecContext(ctx, `INSERT INTO job_states (job_id, state, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
		jobID, state, micros(l.now())); err != nil {
		return fmt.Errorf("ledger: set job state: %w", err)
	}
	return nil
}

func (l *sqliteLedger) JobState(ctx context.Context, jobID string) (string, error) {
	if err := checkID("jobID", jobID); err != nil {
		return "", err
	}
	var s string
	err := l.r.QueryRowContext(ctx, `SELECT state FROM job_states WHERE job_id = ?`, jobID).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("ledger: job state: %w", err)
	}
	return s, nil
}
