package workflows

import (
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
	// MaxReconcileMs bounds each reconciliation option (backoffs, horizon).
	MaxReconcileMs = 365 * 24 * 3600 * 1000
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

// inferenceSettingsOf validates what needs no I/O (the allowlist check is a
// local activity) and applies defaults. Every invalid field is reported by
// its JSON path, as for a consensus input; fields whose JSON had the wrong
// type are reported alone.
func inferenceSettingsOf(in wire.InferenceInput) (inferenceSettings, wire.FieldErrors) {
	s := inferenceSettings{policy: wire.StrictBilling, timeout: DefaultJobTimeout}
	if bad := in.Undecodable(); len(bad) > 0 { // JSON of the wrong type: named alone
		return s, bad
	}
	var errs wire.FieldErrors
	invalid := func(field, format string, args ...any) {
		errs = append(errs, wire.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	for _, id := range []struct{ field, value string }{
		{"userId", in.UserID}, {"jobId", in.JobID}, {"payload.modelId", in.Payload.ModelID},
	} {
		if reason := wire.IDProblem(id.value); reason != "" {
			invalid(id.field, "%s", reason)
		}
	}
	if p := in.Payload.PromptTokens; p < 1 || p > MaxPromptTokens {
		invalid("payload.promptTokens", "%d must be an integer in 1..%d", p, MaxPromptTokens)
	}
	if len(in.Payload.Prompt) > MaxPromptBytes {
		invalid("payload.prompt", "is %d bytes, over the %d byte limit for workflow input", len(in.Payload.Prompt), MaxPromptBytes)
	}
	if o := in.Options; o != nil {
		switch o.BillingPolicy {
		case "":
		case wire.StrictBilling, wire.BestEffortBilling:
			s.policy = o.BillingPolicy
		default:
			invalid("options.billingPolicy", "%q: want strict_billing or best_effort_billing", o.BillingPolicy)
		}
		if o.TimeoutMs != nil {
			// Compared in milliseconds: a huge value times time.Millisecond
			// would overflow time.Duration and could wrap into range.
			if ms := *o.TimeoutMs; ms < int(MinJobTimeout.Milliseconds()) || ms > int(MaxJobTimeout.Milliseconds()) {
				invalid("options.timeoutMs", "must be between %d and %d; got %d", MinJobTimeout.Milliseconds(), MaxJobTimeout.Milliseconds(), ms)
			} else {
				s.timeout = time.Duration(ms) * time.Millisecond
			}
		}
		if r := o.Reconcile; r != nil {
			// Bounded so that none overflows time.Duration once in
			// milliseconds (a wrapped horizon would escalate at once, a
			// wrapped backoff would spin); ≤ 0 takes the default.
			for _, f := range []struct {
				name string
				ms   int
			}{{"initialBackoffMs", r.InitialBackoffMs}, {"maxBackoffMs", r.MaxBackoffMs}, {"horizonMs", r.HorizonMs}} {
				if f.ms > MaxReconcileMs {
					invalid("options.reconcile."+f.name, "%d is over %d (a year); 0 or less takes the default", f.ms, MaxReconcileMs)
				}
			}
			s.reconcile = *r
		}
	}
	return s, errs
}
