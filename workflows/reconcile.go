package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/wire"
)

// reconcileDurations applies the defaults to the options.
func reconcileDurations(o wire.ReconcileOptions) (initial, maxBackoff, horizon time.Duration) {
	initial, maxBackoff, horizon = time.Second, 5*time.Minute, 24*time.Hour
	if o.InitialBackoffMs > 0 {
		initial = time.Duration(o.InitialBackoffMs) * time.Millisecond
	}
	if o.MaxBackoffMs > 0 {
		maxBackoff = time.Duration(o.MaxBackoffMs) * time.Millisecond
	}
	if o.HorizonMs > 0 {
		horizon = time.Duration(o.HorizonMs) * time.Millisecond
	}
	return initial, max(initial, maxBackoff), horizon
}

// Reconcile settles one DLQ record (a failed capture or release): it retries
// the operation with the saga's idempotency key, backing off, until it
// succeeds (the job becomes CAPTURED or RELEASED, the record resolved) or the
// horizon passes, when it escalates to a person.
func Reconcile(ctx workflow.Context, in wire.ReconcileInput, opts wire.ReconcileOptions) error {
	log := workflow.GetLogger(ctx)
	metrics := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"dlqType": string(in.Type)})
	backoff, maxBackoff, horizon := reconcileDurations(opts)
	deadline := workflow.Now(ctx).Add(horizon)
	_ = workflow.UpsertTypedSearchAttributes(ctx, JobIDKey.ValueSet(in.JobID), BillingStateKey.ValueSet(string(wire.StateReconciliationRequired)))

	actx := workflow.WithActivityOptions(ctx, billingActivityOptions())
	for {
		var out wire.ReconcileOutcome
		if err := workflow.ExecuteActivity(actx, wire.ActivityReconcileAttempt, in).Get(ctx, &out); err != nil {
			out = wire.ReconcileOutcome{Error: err.Error()}
		}
		metrics.Counter("reconciliation.attempt").Inc(1)
		if out.Resolved {
			metrics.Counter("reconciliation.resolved").Inc(1)
			_ = workflow.UpsertTypedSearchAttributes(ctx, BillingStateKey.ValueSet(string(out.State)))
			log.Info("Reconciled", "evt", "RECONCILIATION_RESOLVED", "jobId", in.JobID, "type", in.Type,
				"state", out.State, "attempts", out.Attempts)
			return nil
		}
		log.Warn("Reconciliation attempt failed", "evt", "RECONCILIATION_ATTEMPT_FAILED", "jobId", in.JobID,
			"type", in.Type, "attempts", out.Attempts, "error", out.Error, "permanent", out.Permanent)
		if out.Permanent || !workflow.Now(ctx).Add(backoff).Before(deadline) {
			note := fmt.Sprintf("escalated after %d attempts: %s", out.Attempts, out.Error)
			if err := workflow.ExecuteActivity(actx, wire.ActivityEscalate, in, note).Get(ctx, nil); err != nil {
				log.Error("Could not mark DLQ record escalated", "jobId", in.JobID, "error", err)
			}
			metrics.Counter("reconciliation.escalated").Inc(1)
			log.Error("RECONCILIATION ESCALATED — MANUAL ACTION REQUIRED", append([]any{"evt", "RECONCILIATION_ESCALATED",
				"jobId", in.JobID, "type", in.Type, "attempts", out.Attempts, "error", out.Error}, critical...)...)
			return temporal.NewNonRetryableApplicationError(note, string(wire.CodeReconciliationEscalated), nil)
		}
		if err := workflow.Sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// billingActivityOptions: ledger calls retry infrastructure failures with
// backoff; business rejections and idempotency conflicts are final.
func billingActivityOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        200 * time.Millisecond,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: codes(wire.CodeBillingRejected, wire.CodeIdempotencyConflict),
		},
	}
}

// billingLocalActivityOptions are billingActivityOptions for a ledger step
// run as a local activity (saga-v3): the same timeout, attempts, backoff and
// final error types. The worker retries it itself, within the workflow
// task's heartbeats, so its attempts are not ActivityTask events.
func billingLocalActivityOptions() workflow.LocalActivityOptions {
	o := billingActivityOptions()
	return workflow.LocalActivityOptions{StartToCloseTimeout: o.StartToCloseTimeout, RetryPolicy: o.RetryPolicy}
}
