package ledger

import (
	"encoding/json"
	"time"
)

// DLQStatus is the reconciliation state of a dead-letter record.
type DLQStatus string

const (
	DLQOpen      DLQStatus = "open"
	DLQResolved  DLQStatus = "resolved"
	DLQEscalated DLQStatus = "escalated"
)

// DLQRecord is one of the saga's versioned dead-letter records
// (RELEASE_FAILED, CAPTURE_FAILED, TRANSITION_FAILED; payload schema in
// CONTRACT.md#dlq-records). The payload is kept verbatim; consumers are
// idempotent on (Type, JobID, SchemaVersion).
type DLQRecord struct {
	Type          string          `json:"type"`
	JobID         string          `json:"jobId"`
	SchemaVersion int             `json:"schemaVersion"`
	Payload       json.RawMessage `json:"payload"`
	Status        DLQStatus       `json:"status"`
	Attempts      int             `json:"attempts"`
	Note          string          `json:"note,omitempty"`
	CreatedAt     time.Time       `json:"createdAt"`
	UpdatedAt     time.Time       `json:"updatedAt"`
}

const maxDLQPayload = 1 << 20

func validateDLQKey(typ, jobID string, version int) error {
	if err := checkID("DLQ type", typ); err != nil {
		return err
	}
	if err := checkID("jobID", jobID); err != nil {
		return err
	}
	if version < 1 {
		return reject(ReasonInvalidArgument, "schemaVersion %d must be >= 1", version)
	}
	return nil
}

func validateDLQ(rec DLQRecord) error {
	if err := validateDLQKey(rec.Type, rec.JobID, rec.SchemaVersion); err != nil {
		return err
	}
	if len(rec.Payload) == 0 || !json.Valid(rec.Payload) {
		return reject(ReasonInvalidArgument, "DLQ payload is not valid JSON")
	}
	if len(rec.Payload) > maxDLQPayload {
		return reject(ReasonInvalidArgument, "DLQ payload is %d bytes, limit %d", len(rec.Payload), maxDLQPayload)
	}
	return nil
}

func validDLQStatus(s DLQStatus) bool {
	return s == DLQOpen || s == DLQResolved || s == DLQEscalated
}

func validateJobState(jobID, state string) error {
	if err := checkID("jobID", jobID); err != nil {
		return err
	}
	return checkID("job state", state)
}
