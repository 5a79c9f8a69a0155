package wire

// DLQType is the kind of a dead-letter record.
type DLQType string

const (
	DLQCaptureFailed    DLQType = "CAPTURE_FAILED"
	DLQReleaseFailed    DLQType = "RELEASE_FAILED"
	DLQTransitionFailed DLQType = "TRANSITION_FAILED"
	// DLQUsageOverage: the model used more tokens than the hold allows; the
	// job was charged the hold (the cap) and the tokens above it were not
	// billed. An operator record: nothing reconciles it.
	DLQUsageOverage DLQType = "USAGE_OVERAGE"
	// DLQReserveUncertain: a reserve failed for want of the ledger, and may
	// still have committed with its reply lost. Its reconciliation reserves
	// again under the job's key (replaying such a hold, or making one) and
	// releases the hold.
	DLQReserveUncertain DLQType = "RESERVE_UNCERTAIN"
)

// DLQSchemaVersion is the version of DLQPayload the saga writes.
const DLQSchemaVersion = 1

// DLQService names the writer of the saga's DLQ records; DLQServiceVoice
// that of a voice session's.
const (
	DLQService      = "inference-saga"
	DLQServiceVoice = "voice-session"
)

// DLQInput is one dead-letter record to persist (activity EnqueueDLQ),
// idempotent on type, job id and schema version.
type DLQInput struct {
	Type          DLQType    `json:"type"`
	JobID         string     `json:"jobId"`
	SchemaVersion int        `json:"schemaVersion"`
	Payload       DLQPayload `json:"payload"`
}

// DLQPayload is a DLQ record's body (schema version 1). The fields after
// ModelID depend on Type: CAPTURE_FAILED has ReservationID, ActualUsage and
// CaptureError; RELEASE_FAILED has ReservationID, ModelErrorCode and
// ReleaseError; TRANSITION_FAILED has AttemptedFrom, AttemptedTo and
// TransitionError; USAGE_OVERAGE has ReservationID, ActualUsage, BilledUsage
// and MaxTokens; RESERVE_UNCERTAIN has ReserveError.
type DLQPayload struct {
	SchemaVersion int     `json:"schemaVersion"`
	Type          DLQType `json:"type"`
	OccurredAt    string  `json:"occurredAt"` // RFC 3339, UTC
	Service       string  `json:"service"`
	// Environment is filled in by the activity from the worker's setting.
	Environment string `json:"environment,omitempty"`
	JobID       string `json:"jobId"`
	// SessionID and ResponseID name the response a voice session's record
	// bills (Service DLQServiceVoice; its JobID is workflows.VoiceResponseJobID).
	SessionID  string `json:"sessionId,omitempty"`
	ResponseID string `json:"responseId,omitempty"`
	UserID     string `json:"userId"`
	ModelID    string `json:"modelId"`

	ReservationID   string     `json:"reservationId,omitempty"`
	ActualUsage     *Usage     `json:"actualUsage,omitempty"`
	ModelErrorCode  Code       `json:"modelErrorCode,omitempty"`
	AttemptedFrom   JobState   `json:"attemptedFrom,omitempty"`
	AttemptedTo     JobState   `json:"attemptedTo,omitempty"`
	CaptureError    *ErrorMeta `json:"captureError,omitempty"`
	ReleaseError    *ErrorMeta `json:"releaseError,omitempty"`
	ReserveError    *ErrorMeta `json:"reserveError,omitempty"`
	TransitionError *ErrorMeta `json:"transitionError,omitempty"`
	// BilledUsage is what a USAGE_OVERAGE job was charged for (the hold's
	// maximum), MaxTokens the hold's token bound.
	BilledUsage *Usage `json:"billedUsage,omitempty"`
	MaxTokens   int    `json:"maxTokens,omitempty"`
	Retriable   bool   `json:"retriable"`
}

// ErrorMeta describes the error a DLQ record was written for.
type ErrorMeta struct {
	Name     string `json:"name"` // ApplicationError, TimeoutError or Error
	Message  string `json:"message"`
	Code     string `json:"code,omitempty"` // the error's type or timeout type
	HasStack bool   `json:"hasStack"`
}
