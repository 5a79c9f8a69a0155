package workflows

import (
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/wire"
)

// critical marks a paging-severity log entry; the same pair as the worker's
// logging.Critical (checked by a test), which this package cannot import.
var critical = []any{"severity", "CRITICAL"}

// sagaRecorder is what a billed job shows its observers: metrics, log events
// and the JobId / BillingState search attributes. It never decides anything.
type sagaRecorder struct {
	log     log.Logger
	metrics client.MetricsHandler
	// stateDirty: BillingState changed since the last upsert. Upserts are
	// issued once per workflow task, before the workflow blocks, so
	// transitions within one task cost one search-attribute update.
	stateDirty bool
	// sparseAlways: the run is on saga-v3, which implies the sparse
	// upserts without asking for sparseStateChange.
	sparseAlways bool
}

func newSagaRecorder(ctx workflow.Context) *sagaRecorder {
	return &sagaRecorder{log: workflow.GetLogger(ctx), metrics: workflow.GetMetricsHandler(ctx)}
}

func (r *sagaRecorder) invalid(err error) {
	r.log.Warn("Payload validation failed", "evt", "VALIDATION_FAILED", "error", err.Error())
}

// validated tags the job's metrics with its model and policy. The starter
// sets JobId and BillingState=CLAIMED at start; a start without them (e.g.
// from the CLI) gets them with the first upsert.
func (r *sagaRecorder) validated(ctx workflow.Context, modelID string, policy wire.BillingPolicy) {
	r.metrics = r.metrics.WithTags(map[string]string{"modelId": modelID, "billingPolicy": string(policy)})
	r.stateDirty = !startedWithState(ctx)
}

func (r *sagaRecorder) stateChanged() { r.stateDirty = true }

// syncState upserts JobId and BillingState if the state changed, except
// that a run on the sparse version (sparseStateVersion) never upserts a
// transient state: it stays dirty, and the next state an operator filters
// on is upserted instead.
func (r *sagaRecorder) syncState(ctx workflow.Context, jobID string, state wire.JobState) {
	if !r.stateDirty {
		return
	}
	if transientStates[state] && r.sparse(ctx) {
		return
	}
	r.stateDirty = false
	_ = workflow.UpsertTypedSearchAttributes(ctx, JobIDKey.ValueSet(jobID), BillingStateKey.ValueSet(string(state)))
}

// sparseStateChange gates the sparse BillingState upserts. Each upsert is a
// visibility write, and three of them (INFERENCE_RUNNING,
// INFERENCE_SUCCEEDED, the final state) cost the saga about a quarter of
// its throughput at 16 in flight (BENCHMARKS.md). Runs that took the
// default version upserted every state and must keep doing so on replay.
const (
	sparseStateChange  = "billing-state-sparse"
	sparseStateVersion = workflow.Version(1)
)

// transientStates are the steps a job passes through on its way to a state
// an operator filters on. While a sparse run is in one of them, BillingState
// still shows CLAIMED (with ExecutionStatus "Running"); the `state` query
// tells the exact step.
var transientStates = map[wire.JobState]bool{
	wire.StateReserved: true, wire.StateInferenceRunning: true, wire.StateInferenceSucceeded: true,
}

// sparse reports whether this run takes the sparse upserts. The version is
// asked for only where the old code upserted a transient state, so recorded
// histories of that code replay unchanged.
func (r *sagaRecorder) sparse(ctx workflow.Context) bool {
	if r.sparseAlways {
		return true
	}
	return workflow.GetVersion(ctx, sparseStateChange, workflow.DefaultVersion, sparseStateVersion) == sparseStateVersion
}

// startedWithState reports whether the start request already set JobId and
// BillingState=CLAIMED.
func startedWithState(ctx workflow.Context) bool {
	sa := workflow.GetTypedSearchAttributes(ctx)
	state, ok := sa.GetKeyword(BillingStateKey)
	_, hasJob := sa.GetKeyword(JobIDKey)
	return ok && hasJob && state == string(wire.StateClaimed)
}

// sagaStep times one saga step for its metrics (<name>.duration_ms,
// <name>.success, <name>.failure) and log events.
type sagaStep struct {
	ctx   workflow.Context
	r     *sagaRecorder
	name  string
	start time.Time
}

func (r *sagaRecorder) begin(ctx workflow.Context, name string) sagaStep {
	return sagaStep{ctx: ctx, r: r, name: name, start: workflow.Now(ctx)}
}

func (s sagaStep) elapsed() time.Duration { return workflow.Now(s.ctx).Sub(s.start) }

func (s sagaStep) succeeded(evt, msg string, kv ...any) {
	d := s.elapsed()
	s.r.metrics.Timer(s.name + ".duration_ms").Record(d)
	s.r.metrics.Counter(s.name + ".success").Inc(1)
	s.r.log.Info(msg, append(append([]any{"evt", evt}, kv...), "durationMs", d.Milliseconds())...)
}

// failed counts a failure, tagged with code unless it is "".
func (s sagaStep) failed(code wire.Code, evt, msg string, kv ...any) {
	m := s.r.metrics
	if code != "" {
		m = m.WithTags(map[string]string{"errorCode": string(code)})
	}
	m.Counter(s.name + ".failure").Inc(1)
	s.log(code, evt, msg, kv)
}

// failedTimed is failed that also times the failure (the model call's
// duration histogram holds failures, tagged with their code).
func (s sagaStep) failedTimed(code wire.Code, evt, msg string, kv ...any) {
	m := s.r.metrics.WithTags(map[string]string{"errorCode": string(code)})
	m.Timer(s.name + ".duration_ms").Record(s.elapsed())
	m.Counter(s.name + ".failure").Inc(1)
	s.log(code, evt, msg, kv)
}

func (s sagaStep) log(code wire.Code, evt, msg string, kv []any) {
	fields := []any{"evt", evt}
	if code != "" {
		fields = append(fields, "errorCode", code)
	}
	s.r.log.Error(msg, append(append(fields, kv...), "durationMs", s.elapsed().Milliseconds())...)
}

func (r *sagaRecorder) transitionConflict(from, to, current wire.JobState) {
	r.metrics.WithTags(map[string]string{"errorCode": string(wire.CodeStateConflict), "fromState": string(from), "toState": string(to)}).
		Counter("job_state.transition.failure").Inc(1)
	r.log.Error("State machine invariant violated — STATE_CONFLICT", append([]any{"evt", "STATE_TRANSITION_CONFLICT",
		"from", from, "to", to, "current", current}, critical...)...)
}

func (r *sagaRecorder) dlqEnqueued(jobID string, typ wire.DLQType, err error) {
	m := r.metrics.WithTags(map[string]string{"dlqType": string(typ)})
	if err == nil {
		m.Counter("dlq.enqueue.success").Inc(1)
		return
	}
	m.Counter("dlq.enqueue.failure").Inc(1)
	r.log.Error("DLQ_ENQUEUE_FAILED — MANUAL RECONCILIATION REQUIRED", append([]any{"evt", "DLQ_ENQUEUE_FAILED",
		"jobId", jobID, "innerType", typ, "dlqError", rootMessage(err)}, critical...)...)
}

func (r *sagaRecorder) reconcileNotStarted(jobID string, err error) {
	r.log.Error("Could not start reconciliation", "jobId", jobID, "error", err)
}

// duplicateBlocked logs a run refused to keep its job to one run: the
// caller started the job again (or under a foreign workflow id).
func (r *sagaRecorder) duplicateBlocked(jobID, reason, workflowID, holderRunID string) {
	r.metrics.WithTags(map[string]string{"reason": reason}).Counter("billing.duplicate_job_blocked").Inc(1)
	r.log.Warn("Second run of a job refused", "evt", "DUPLICATE_JOB_BLOCKED", "errorCode", wire.CodeDuplicateJob,
		"jobId", jobID, "reason", reason, "workflowId", workflowID, "holderRunId", holderRunID)
}

// usageOverage logs a job billed at its hold because its usage outgrew it.
func (r *sagaRecorder) usageOverage(jobID, reservationID string, actual, billed wire.Usage, maxTokens int) {
	r.metrics.Counter("billing.usage_overage").Inc(1)
	r.log.Error("Usage above the hold — charged the hold, overage recorded", "evt", "USAGE_OVERAGE", "jobId", jobID,
		"reservationId", reservationID, "actualUsage", actual, "billedUsage", billed, "maxTokens", maxTokens)
}

func (r *sagaRecorder) billingPending(jobID string) {
	r.log.Warn("Returning success under best_effort_billing; billing reconciliation pending",
		"evt", "BILLING_PENDING_RECONCILIATION", "jobId", jobID)
}
