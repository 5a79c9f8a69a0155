package wire

// BillingPolicy says what a caller gets when capture fails after success.
type BillingPolicy string

const (
	StrictBilling     BillingPolicy = "strict_billing"
	BestEffortBilling BillingPolicy = "best_effort_billing"
)

// InferenceInput starts one billed job (workflow InferenceJob).
type InferenceInput struct {
	UserID  string            `json:"userId"`
	JobID   string            `json:"jobId"`
	Payload InferencePayload  `json:"payload"`
	Options *InferenceOptions `json:"options,omitempty"`

	undecodable FieldErrors // see UnmarshalJSON
}

// InferencePayload is what the model is asked.
type InferencePayload struct {
	ModelID string `json:"modelId"`
	// PromptTokens is the ESTIMATE used to reserve credits; billing uses the
	// model's reported usage.
	PromptTokens int    `json:"promptTokens"`
	Prompt       string `json:"prompt,omitempty"`
}

// InferenceOptions are optional; nil fields take defaults.
type InferenceOptions struct {
	BillingPolicy BillingPolicy     `json:"billingPolicy,omitempty"`
	TimeoutMs     *int              `json:"timeoutMs,omitempty"`
	Reconcile     *ReconcileOptions `json:"reconcile,omitempty"`
}

// ReconcileOptions tune the reconciliation backoff; zero takes defaults.
type ReconcileOptions struct {
	InitialBackoffMs int `json:"initialBackoffMs,omitempty"` // default 1 s
	MaxBackoffMs     int `json:"maxBackoffMs,omitempty"`     // default 5 min
	HorizonMs        int `json:"horizonMs,omitempty"`        // default 24 h: then escalate
}

// InferenceResult is a job that delivered the model's answer.
type InferenceResult struct {
	Success bool        `json:"success"`
	Data    ModelResult `json:"data"`
	// BillingPending: the caller got a result under best_effort_billing, but
	// capture failed and reconciliation is pending.
	BillingPending bool `json:"billingPending,omitempty"`
}

// InferenceFailure is carried as the details of a failed job's application
// error, whose type is its Code.
type InferenceFailure struct {
	JobID         string        `json:"jobId"`
	RetryStrategy RetryStrategy `json:"retryStrategy"`
	// BillingUnresolved: the caller got an error AND billing is unresolved
	// (release failed, or capture failed under strict_billing).
	BillingUnresolved bool     `json:"billingUnresolved"`
	State             JobState `json:"state,omitempty"`
	Reason            string   `json:"reason,omitempty"`
	// InvalidFields names each invalid input field of a VALIDATION_FAILED.
	InvalidFields FieldErrors `json:"invalidFields,omitempty"`
}

// JobState is a billed job's state.
type JobState string

const (
	StateClaimed                JobState = "CLAIMED"
	StateReserved               JobState = "RESERVED"
	StateReservationFailed      JobState = "RESERVATION_FAILED"
	StateInferenceRunning       JobState = "INFERENCE_RUNNING"
	StateInferenceSucceeded     JobState = "INFERENCE_SUCCEEDED"
	StateCaptured               JobState = "CAPTURED"
	StateReleased               JobState = "RELEASED"
	StateReconciliationRequired JobState = "RECONCILIATION_REQUIRED"
)

// JobStatus is what the state query (QueryState) returns.
type JobStatus struct {
	State         JobState   `json:"state"`
	History       []JobState `json:"history"`
	ReservationID string     `json:"reservationId,omitempty"`
}

// ModelCheck is what the saga needs to know about a model before it
// reserves (local activity CheckModel, whose input is the model id).
type ModelCheck struct {
	Allowlisted bool `json:"allowlisted"`
}

// MaxTokens bounds every token count a caller gives billing (a hold's
// estimate, a usage): the ledger's bound, under which tokens times price
// cannot overflow (checked by a test in package activities).
const MaxTokens = 1 << 29

// ReserveInput asks for a hold for one job (activity Reserve).
type ReserveInput struct {
	JobID        string `json:"jobId"`
	UserID       string `json:"userId"`
	ModelID      string `json:"modelId"`
	PromptTokens int    `json:"promptTokens"`
}

// Reservation is the hold Reserve made: what the saga needs of it. (Older
// histories hold the ledger's whole record; its other fields are ignored.)
type Reservation struct {
	ID     string `json:"id"`
	Amount int64  `json:"amount"` // micro-credits held
	// MaxTokens is the hold's token bound (prompt estimate + the model's
	// MaxCompletionTokens): a capture above it is refused by the ledger.
	// MaxCompletionTokens is what the model call is capped at (max_tokens).
	// Zero in histories of Reserve results that did not carry them.
	MaxTokens           int `json:"maxTokens,omitempty"`
	MaxCompletionTokens int `json:"maxCompletionTokens,omitempty"`
}

// ClaimInput takes a job for one workflow run (activity ClaimJob): the
// first run to claim a job id keeps it; another run is refused with
// CodeDuplicateJob.
type ClaimInput struct {
	JobID string `json:"jobId"`
	RunID string `json:"runId"`
}

// ModelInput is one billed model call (activity CallModel).
type ModelInput struct {
	JobID        string `json:"jobId"`
	ModelID      string `json:"modelId"`
	Prompt       string `json:"prompt,omitempty"`
	PromptTokens int    `json:"promptTokens"`
	// TimeoutMs is the job's own timeout, enforced inside the activity so a
	// slow model is a MODEL_TIMEOUT, while the activity's start-to-close and
	// heartbeat timeouts only catch a dead worker.
	TimeoutMs int `json:"timeoutMs"`
	// MaxTokens caps the completion (the request's max_tokens): the hold's
	// MaxCompletionTokens. 0 sends no cap.
	MaxTokens int `json:"maxTokens,omitempty"`
}

// ModelResult is the model's answer and metered usage.
type ModelResult struct {
	Text    string `json:"text"`
	ModelID string `json:"modelId"`
	Usage   Usage  `json:"usage"`
}

// CaptureInput settles a job's hold with the model's actual usage (activity
// Capture).
type CaptureInput struct {
	JobID         string `json:"jobId"`
	ReservationID string `json:"reservationId"`
	Usage         Usage  `json:"usage"`
	// UserID, when set, asks for the user's available balance after the
	// capture in the result (a voice session shows it to the caller).
	UserID string `json:"userId,omitempty"`
}

// CaptureResult is what a capture moved, in micro-credits.
type CaptureResult struct {
	ReservationID string `json:"reservationId"`
	Charged       int64  `json:"charged"`
	Returned      int64  `json:"returned"`
	// Available is the user's available balance after the capture, when
	// CaptureInput.UserID asked for it and the ledger could say.
	Available *int64 `json:"available,omitempty"`
}

// ReleaseInput returns a job's hold (activity Release).
type ReleaseInput struct {
	JobID         string `json:"jobId"`
	ReservationID string `json:"reservationId"`
}

// ReleaseResult is what a release gave back, in micro-credits.
type ReleaseResult struct {
	ReservationID string `json:"reservationId"`
	Returned      int64  `json:"returned"`
}

// ReconcileInput names a DLQ record and what settles it (workflow Reconcile,
// activities ReconcileAttempt and Escalate).
type ReconcileInput struct {
	Type          DLQType `json:"type"` // DLQCaptureFailed, DLQReleaseFailed or DLQReserveUncertain
	JobID         string  `json:"jobId"`
	SchemaVersion int     `json:"schemaVersion"`
	ReservationID string  `json:"reservationId"`
	Usage         Usage   `json:"usage,omitzero"`
	// Reserve is the job's reserve, for DLQReserveUncertain.
	Reserve *ReserveInput `json:"reserve,omitempty"`
	// Service to ModelID name whose record this is (WithRecord), so a
	// reconciliation that must write the record itself (its writer could
	// not) writes it as the writer would have. Runs started before they
	// existed carry none; their records are the saga's.
	Service    string `json:"service,omitempty"`
	SessionID  string `json:"sessionId,omitempty"`
	ResponseID string `json:"responseId,omitempty"`
	UserID     string `json:"userId,omitempty"`
	ModelID    string `json:"modelId,omitempty"`
}

// WithRecord returns in naming the writer of p, the DLQ record in is for.
func (in ReconcileInput) WithRecord(p DLQPayload) ReconcileInput {
	in.Service, in.SessionID, in.ResponseID, in.UserID, in.ModelID = p.Service, p.SessionID, p.ResponseID, p.UserID, p.ModelID
	return in
}

// ReconcileOutcome is one reconciliation attempt's result.
type ReconcileOutcome struct {
	Resolved bool     `json:"resolved"`
	State    JobState `json:"state,omitempty"` // CAPTURED or RELEASED when resolved
	// Permanent is true when retrying cannot help (e.g. the hold expired
	// before a capture): the record must be escalated now.
	Permanent bool   `json:"permanent,omitempty"`
	Attempts  int    `json:"attempts"`
	Error     string `json:"error,omitempty"`
}
