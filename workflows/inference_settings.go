package workflows

import (
	"errors"
	"fmt"
	"time"

	"github.com/inferflow/inferflow/wire"
)

// Billed inference defaults and bounds of wire.InferenceInput.
const (
	MinJobTimeout     = time.Second
	MaxJobTimeout     = 120 * time.Second
	DefaultJobTimeout = 30 * time.Second
	MaxPromptTokens   = 200_000
	MaxPromptBytes    = 256 << 10 // prompts travel in history; keep them small
)

// RetryStrategyFor is what a caller should do with a failed job.
func RetryStrategyFor(code wire.Code) wire.RetryStrategy {
	switch code {
	case wire.CodeModelTimeout, wire.CodeModelRateLimited, wire.CodeModelServerError, wire.CodeInfraUnavailable:
		return wire.RetryWithBackoff
	case wire.CodeCaptureFailed, wire.CodeReservationFailed:
		return wire.DLQOnly
	default: // MODEL_CLIENT_ERROR, VALIDATION_FAILED, DUPLICATE_JOB, STATE_CONFLICT
		return wire.NoRetry
	}
}

type inferenceSettings struct {
	policy    wire.BillingPolicy
	timeout   time.Duration
	reconcile wire.ReconcileOptions
}

// inferenceSettingsOf validates what needs no I/O (the allowlist check is a local
// activity) and applies defaults.
func inferenceSettingsOf(in wire.InferenceInput) (inferenceSettings, error) {
	s := inferenceSettings{policy: wire.StrictBilling, timeout: DefaultJobTimeout}
	if bad := in.Undecodable(); len(bad) > 0 { // JSON of the wrong type: named alone
		return s, bad
	}
	var errs []error
	if err := wire.ValidateID("userId", in.UserID); err != nil {
		errs = append(errs, err)
	}
	if err := wire.ValidateID("jobId", in.JobID); err != nil {
		errs = append(errs, err)
	}
	if err := wire.ValidateID("modelId", in.Payload.ModelID); err != nil {
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
		case wire.StrictBilling, wire.BestEffortBilling:
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
