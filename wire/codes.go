package wire

// Code is an error code: the type of a Temporal application error raised by
// an activity or a workflow, and what a caller branches on.
type Code string

func (c Code) String() string { return string(c) }

// Model-call codes of the vision and judge activities.
const (
	CodeTimeout       Code = "TIMEOUT"
	CodeRateLimited   Code = "RATE_LIMITED"
	CodeServerError   Code = "SERVER_ERROR"
	CodeClientError   Code = "CLIENT_ERROR"
	CodeInvalidOutput Code = "INVALID_OUTPUT"
	// CodeInvalidInput: the judge was given malformed valuations, or a
	// vision call an image its provider refuses.
	CodeInvalidInput Code = "INVALID_INPUT"
	// CodeStorageError: the image could not be read from the blob store
	// (I/O); worth a retry.
	CodeStorageError Code = "STORAGE_ERROR"
	// CodeInternalError: the activity failed in a way no code describes (a
	// panic, an unexpected error): a bug for a person to look at.
	CodeInternalError Code = "INTERNAL_ERROR"
)

// Transient reports the model-call codes worth retrying.
func (c Code) Transient() bool {
	return c == CodeTimeout || c == CodeRateLimited || c == CodeServerError || c == CodeStorageError
}

// Consensus evaluation failures.
const (
	CodeValidationFailed   Code = "VALIDATION_FAILED"
	CodeQuorumNotMet       Code = "QUORUM_NOT_MET"
	CodeVisionAllFailed    Code = "VISION_ALL_FAILED"
	CodeJudgeFailed        Code = "JUDGE_FAILED"
	CodeJudgeInvalidOutput Code = "JUDGE_INVALID_OUTPUT"
	CodeJudgeInvalidInput  Code = "JUDGE_INVALID_INPUT"
	// CodeImageUnavailable: the image's blob could not be read (an I/O
	// failure after VerifyImage's retries), unlike a missing or mismatched
	// blob, which is VALIDATION_FAILED.
	CodeImageUnavailable Code = "IMAGE_UNAVAILABLE"
)

// CodeNotEvaluated: a batch item whose evaluation ended without a result
// (cancelled, terminated, timed out); running the batch again evaluates it.
const CodeNotEvaluated Code = "NOT_EVALUATED"

// Billed inference failures. CodeValidationFailed is shared.
const (
	CodeDuplicateJob            Code = "DUPLICATE_JOB"
	CodeInfraUnavailable        Code = "INFRA_UNAVAILABLE"
	CodeStateConflict           Code = "STATE_CONFLICT"
	CodeReservationFailed       Code = "RESERVATION_FAILED"
	CodeCaptureFailed           Code = "CAPTURE_FAILED"
	CodeModelTimeout            Code = "MODEL_TIMEOUT"
	CodeModelRateLimited        Code = "MODEL_RATE_LIMITED"
	CodeModelServerError        Code = "MODEL_SERVER_ERROR"
	CodeModelClientError        Code = "MODEL_CLIENT_ERROR"
	CodeReconciliationEscalated Code = "RECONCILIATION_ESCALATED"
)

// CodeVoiceInvalidInput fails a voice session started with bad input.
const CodeVoiceInvalidInput Code = "VOICE_INVALID_INPUT"

// Billing activity error types. Rejections and conflicts are final; any
// other ledger failure is infrastructure and retried.
const (
	CodeBillingRejected     Code = "BILLING_REJECTED"
	CodeIdempotencyConflict Code = "IDEMPOTENCY_CONFLICT"
	CodeInvalidDLQPayload   Code = "INVALID_DLQ_PAYLOAD"
	CodeInvalidDLQType      Code = "INVALID_DLQ_TYPE"
)

// RetryStrategy tells the caller what to do with a failed run.
type RetryStrategy string

const (
	NoRetry          RetryStrategy = "no_retry"
	RetryWithBackoff RetryStrategy = "retry_with_backoff"
	DLQOnly          RetryStrategy = "dlq_only"
)

// Ledger refusal reasons: the details of a CodeBillingRejected error (the
// ledger's own names, checked by a test in package activities). A workflow
// branches on them, so they are part of the wire.
const (
	ReasonInsufficientCredits     = "INSUFFICIENT_CREDITS"
	ReasonUsageExceedsReservation = "USAGE_EXCEEDS_RESERVATION"
	ReasonHoldNotActive           = "HOLD_NOT_ACTIVE" // already captured or released
	ReasonHoldExpired             = "HOLD_EXPIRED"
)

// Why a run was refused with CodeDuplicateJob (InferenceFailure.Reason).
const (
	// ReasonJobClaimed: another workflow run of the job holds its claim.
	ReasonJobClaimed = "JOB_CLAIMED"
	// ReasonWorkflowIDMismatch: the run's workflow id is not
	// InferenceWorkflowID(jobId), the id that keeps a job to one run.
	ReasonWorkflowIDMismatch = "WORKFLOW_ID_MISMATCH"
)
