package workflows

import (
	"errors"
	"fmt"
	"time"

	"github.com/inferflow/inferflow/activities"
)

// Billed inference defaults and bounds, as the seed's.
const (
	MinJobTimeout        = time.Second
	MaxJobTimeout        = 120 * time.Second
	DefaultJobTimeout    = 30 * time.Second
	MaxPromptTokens      = 200_000
	MaxPromptBytes       = 256 << 10 // prompts travel in history; keep them small
	InferenceWorkflowDLQ = 1         // DLQ schema version
)

// BillingPolicy says what a caller gets when capture fails after success.
type BillingPolicy string

const (
	StrictBilling     BillingPolicy = "strict_billing"
	BestEffortBilling BillingPolicy = "best_effort_billing"
)

// InferenceInput starts one billed job.
type InferenceInput struct {
	UserID  string            `json:"userId"`
	JobID   string            `json:"jobId"`
	Payload InferencePayload  `json:"payload"`
	Options *InferenceOptions `json:"options,omitempty"`
}

// InferencePayload is the seed's InferencePayload, plus the prompt the
// model answers (the seed's modelService receives the payload).
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

// InferenceResult is the seed's InferenceResult.
type InferenceResult struct {
	Success bool                   `json:"success"`
	Data    activities.ModelResult `json:"data"`
	// BillingPending: the caller got a result under best_effort_billing, but
	// capture failed and reconciliation is pending.
	BillingPending bool `json:"billingPending,omitempty"`
}

// InferenceFailure is carried as the details of a failed job's application
// error, whose type is the seed's error code.
type InferenceFailure struct {
	JobID         string        `json:"jobId"`
	RetryStrategy RetryStrategy `json:"retryStrategy"`
	// BillingUnresolved: the caller got an error AND billing is unresolved
	// (release failed, or capture failed under strict_billing).
	BillingUnresolved bool   `json:"billingUnresolved"`
	State             string `json:"state,omitempty"`
	Reason            string `json:"reason,omitempty"`
}

// Inference error codes: the type of the workflow's application error.
const (
	CodeDuplicateJob      = "DUPLICATE_JOB"
	CodeInfraUnavailable  = "INFRA_UNAVAILABLE"
	CodeStateConflict     = "STATE_CONFLICT"
	CodeReservationFailed = "RESERVATION_FAILED"
	CodeCaptureFailed     = "CAPTURE_FAILED"
	CodeModelTimeout      = activities.ModelTimeout
	CodeModelRateLimited  = activities.ModelRateLimited
	CodeModelServerError  = activities.ModelServerError
	CodeModelClientError  = activities.ModelClientError
)

// RetryStrategyFor is the seed's retryStrategyFor.
func RetryStrategyFor(code string) RetryStrategy {
	switch code {
	case CodeModelTimeout, CodeModelRateLimited, CodeModelServerError, CodeInfraUnavailable:
		return RetryWithBackoff
	case CodeCaptureFailed, CodeReservationFailed:
		return DLQOnly
	default: // MODEL_CLIENT_ERROR, VALIDATION_FAILED, DUPLICATE_JOB, STATE_CONFLICT
		return NoRetry
	}
}

// InferenceWorkflowID is the workflow id for a job: one execution per job id.
func InferenceWorkflowID(jobID string) string { return "inference-" + jobID }

type inferenceSettings struct {
	policy    BillingPolicy
	timeout   time.Duration
	reconcile ReconcileOptions
}

// settings validates what needs no I/O (the allowlist check is a local
// activity) and applies defaults.
func (in InferenceInput) settings() (inferenceSettings, error) {
	s := inferenceSettings{policy: StrictBilling, timeout: DefaultJobTimeout}
	var errs []error
	if err := ValidateID("userId", in.UserID); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateID("jobId", in.JobID); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateID("modelId", in.Payload.ModelID); err != nil {
		errs = append(errs, err)
	}
	if p := in.Payload.PromptTokens; p < 1 || p > MaxPromptTokens {
		errs = append(errs, fmt.Errorf("promptTokens %d must be an integer in 1..%d", p, MaxPromptTokens))
	}
	if len(in.Payload.Prompt) > MaxPromptBytes {
		errs = append(errs, fmt.Errorf("prompt is %d bytes, over the %d byte limit for workflow input", len(in.Payload.Prompt), MaxPromptBytes))
	}
	if o := in.Options; o != nil {
		switch o.BillingPolicy {
		case "":
		case StrictBilling, BestEffortBilling:
			s.policy = o.BillingPolicy
		default:
			errs = append(errs, fmt.Errorf("billingPolicy %q: want strict_billing or best_effort_billing", o.BillingPolicy))
		}
		if o.TimeoutMs != nil {
			s.timeout = time.Duration(*o.TimeoutMs) * time.Millisecond
			if s.timeout < MinJobTimeout || s.timeout > MaxJobTimeout {
				errs = append(errs, fmt.Errorf("timeoutMs must be between %d and %d; got %d", MinJobTimeout.Milliseconds(), MaxJobTimeout.Milliseconds(), *o.TimeoutMs))
			}
		}
		if o.Reconcile != nil {
			s.reconcile = *o.Reconcile
		}
	}
	return s, errors.Join(errs...)
}
