package workflows

import (
	"encoding/json"
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/activities"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/logging"
)

// StateQuery is the query name that returns a JobStatus.
const StateQuery = "state"

// JobStatus is what the state query returns.
type JobStatus struct {
	State         JobState   `json:"state"`
	History       []JobState `json:"history"`
	ReservationID string     `json:"reservationId,omitempty"`
}

// InferenceJob is the idempotent billed inference saga (Example 02): reserve
// credits, call the model, capture the actual usage or release the hold, and
// hand whatever could not be settled to reconciliation. The workflow id
// (inference-<jobId>) is the duplicate-execution guard.
func InferenceJob(ctx workflow.Context, in InferenceInput) (*InferenceResult, error) {
	j := &job{in: in, machine: newJobMachine(), log: workflow.GetLogger(ctx)}
	if err := workflow.SetQueryHandler(ctx, StateQuery, func() (JobStatus, error) {
		return JobStatus{State: j.machine.state, History: j.machine.history, ReservationID: j.reservation.ID}, nil
	}); err != nil {
		return nil, err
	}

	// 1–2. Validate identity, payload and options: nothing is reserved for bad input.
	s, err := in.settings()
	if err == nil {
		err = j.checkAllowlisted(ctx)
	}
	if err != nil {
		j.log.Warn("Payload validation failed", "evt", "VALIDATION_FAILED", "error", err.Error())
		return nil, j.fail(CodeValidationFailed, "Validation failed: "+err.Error(), false)
	}
	j.settings = s
	j.metrics = workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"modelId": in.Payload.ModelID, "billingPolicy": string(s.policy)})
	// The starter sets JobId and BillingState=CLAIMED at start; a start
	// without them (e.g. from the CLI) gets them with the first upsert.
	j.stateDirty = !startedWithState(ctx)
	defer func() {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		j.syncState(dctx)
	}()

	// 3. Claim: the workflow id already guarantees one execution per job.
	// 4–5. Reserve the expected cost, idempotently.
	if err := j.reserve(ctx); err != nil {
		return nil, err
	}

	// 6. Model call; on failure (or cancellation) release the hold.
	result, err := j.callModel(ctx)
	if err != nil {
		return nil, err
	}

	// 7. Capture actual usage.
	return j.capture(ctx, result)
}

// job is one saga run: its input, state machine and what it has reserved.
type job struct {
	in          InferenceInput
	settings    inferenceSettings
	machine     *jobMachine
	reservation ledger.Reservation
	log         log.Logger
	metrics     client.MetricsHandler
	// stateDirty: BillingState changed since the last upsert. Upserts are
	// issued once per workflow task, before the workflow blocks (await), so
	// transitions within one task cost one search-attribute update.
	stateDirty bool
}

// await makes the search attributes current, then waits for f.
func (j *job) await(ctx workflow.Context, f workflow.Future, v any) error {
	j.syncState(ctx)
	return f.Get(ctx, v)
}

var billing *activities.Billing

func (j *job) checkAllowlisted(ctx workflow.Context) error {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 5 * time.Second})
	var check activities.ModelCheck
	// By registered name: a local activity runs the worker's instance, which
	// holds the catalog.
	if err := workflow.ExecuteLocalActivity(lctx, "CheckModel", j.in.Payload.ModelID).Get(ctx, &check); err != nil {
		return err
	}
	if !check.Allowlisted {
		return errors.New("modelId " + j.in.Payload.ModelID + " is not allowlisted")
	}
	return nil
}

func (j *job) reserve(ctx workflow.Context) error {
	start := workflow.Now(ctx)
	actx := workflow.WithActivityOptions(ctx, billingActivityOptions())
	err := j.await(ctx, workflow.ExecuteActivity(actx, billing.Reserve, activities.ReserveInput{
		JobID: j.in.JobID, UserID: j.in.UserID, ModelID: j.in.Payload.ModelID, PromptTokens: j.in.Payload.PromptTokens,
	}), &j.reservation)
	if err == nil {
		if err := j.transition(ctx, StateClaimed, StateReserved); err != nil {
			return err
		}
		j.metrics.Timer("billing.reserve.duration_ms").Record(workflow.Now(ctx).Sub(start))
		j.metrics.Counter("billing.reserve.success").Inc(1)
		j.log.Info("Credits reserved", "evt", "CREDITS_RESERVED", "reservationId", j.reservation.ID,
			"expectedCost", j.reservation.Amount, "currency", "micro-credits", "durationMs", workflow.Now(ctx).Sub(start).Milliseconds())
		return nil
	}
	if temporal.IsCanceledError(err) {
		j.compensateCancelledReserve(ctx)
		return err
	}
	rejected := errorType(err) == activities.ErrBillingRejected || errorType(err) == activities.ErrIdempotencyConflict
	code := CodeInfraUnavailable
	if rejected {
		code = CodeReservationFailed
	}
	j.metrics.WithTags(map[string]string{"errorCode": code}).Counter("billing.reserve.failure").Inc(1)
	j.log.Error("Reservation failed", "evt", "CREDITS_RESERVE_FAILED", "isBillingRejection", rejected,
		"error", rootMessage(err), "durationMs", workflow.Now(ctx).Sub(start).Milliseconds())
	// The original reservation error is what the caller sees, even if this
	// transition trips the bug guard.
	_ = j.transition(ctx, StateClaimed, StateReservationFailed)
	f := j.fail(code, "Could not reserve credits: "+rootMessage(err), false)
	return f
}

// compensateCancelledReserve: a reserve cancelled in flight may still have
// made its hold. Reserve is idempotent on its key, so asking again returns
// that hold (or makes one), and releasing it leaves the account as before.
func (j *job) compensateCancelledReserve(ctx workflow.Context) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	actx := workflow.WithActivityOptions(dctx, billingActivityOptions())
	var r ledger.Reservation
	if err := workflow.ExecuteActivity(actx, billing.Reserve, activities.ReserveInput{
		JobID: j.in.JobID, UserID: j.in.UserID, ModelID: j.in.Payload.ModelID, PromptTokens: j.in.Payload.PromptTokens,
	}).Get(dctx, &r); err != nil {
		return // nothing could be held
	}
	_ = workflow.ExecuteActivity(actx, billing.Release, activities.ReleaseInput{JobID: j.in.JobID, ReservationID: r.ID}).Get(dctx, nil)
}

func (j *job) callModel(ctx workflow.Context) (activities.ModelResult, error) {
	if err := j.transition(ctx, StateReserved, StateInferenceRunning); err != nil {
		return activities.ModelResult{}, err
	}
	start := workflow.Now(ctx)
	var result activities.ModelResult
	err := j.await(ctx, workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, modelActivityOptions(j.settings.timeout)), billing.CallModel,
		activities.ModelInput{JobID: j.in.JobID, ModelID: j.in.Payload.ModelID, Prompt: j.in.Payload.Prompt,
			PromptTokens: j.in.Payload.PromptTokens, TimeoutMs: int(j.settings.timeout.Milliseconds())},
	), &result)
	d := workflow.Now(ctx).Sub(start)
	if err == nil {
		if err := j.transition(ctx, StateInferenceRunning, StateInferenceSucceeded); err != nil {
			return result, err
		}
		j.metrics.Timer("model.call.duration_ms").Record(d)
		j.metrics.Counter("model.call.success").Inc(1)
		j.log.Info("Model call succeeded", "evt", "MODEL_CALL_SUCCEEDED", "usage", result.Usage, "durationMs", d.Milliseconds())
		return result, nil
	}

	cancelled := temporal.IsCanceledError(err)
	code := modelErrorCode(err)
	m := j.metrics.WithTags(map[string]string{"errorCode": code})
	m.Timer("model.call.duration_ms").Record(d)
	m.Counter("model.call.failure").Inc(1)
	j.log.Error("Model call failed — releasing reservation", "evt", "MODEL_CALL_FAILED", "errorCode", code,
		"cancelled", cancelled, "error", rootMessage(err), "durationMs", d.Milliseconds())

	// Compensation runs in a disconnected context, so a cancelled workflow
	// still gives the credits back.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	unresolved := j.releaseOrCompensate(dctx, code)
	if cancelled {
		return result, err
	}
	return result, j.fail(code, "Model call failed: "+rootMessage(err), unresolved)
}

// releaseOrCompensate releases the hold with rel_<jobId>; if that fails after
// its retries the job needs reconciliation (RELEASE_FAILED in the DLQ) and
// billing is unresolved. It never fails the saga itself.
func (j *job) releaseOrCompensate(ctx workflow.Context, originalCode string) (unresolved bool) {
	start := workflow.Now(ctx)
	err := j.await(ctx, workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, billingActivityOptions()), billing.Release,
		activities.ReleaseInput{JobID: j.in.JobID, ReservationID: j.reservation.ID}), nil)
	if err == nil {
		_ = j.transition(ctx, StateInferenceRunning, StateReleased)
		j.metrics.Timer("billing.release.duration_ms").Record(workflow.Now(ctx).Sub(start))
		j.metrics.Counter("billing.release.success").Inc(1)
		j.log.Info("Reservation released", "evt", "CREDITS_RELEASED", "reservationId", j.reservation.ID,
			"durationMs", workflow.Now(ctx).Sub(start).Milliseconds())
		return false
	}
	j.metrics.WithTags(map[string]string{"errorCode": originalCode}).Counter("billing.release.failure").Inc(1)
	// Best effort, as in the seed: the DLQ record is the durable signal.
	if j.machine.transition(StateInferenceRunning, StateReconciliationRequired) == nil {
		j.stateDirty = true
	}
	j.enqueueDLQ(ctx, "RELEASE_FAILED", map[string]any{
		"reservationId": j.reservation.ID, "modelErrorCode": originalCode, "releaseError": errorMeta(err), "retriable": true,
	}, &activities.ReconcileInput{Type: "RELEASE_FAILED", JobID: j.in.JobID, SchemaVersion: InferenceWorkflowDLQ, ReservationID: j.reservation.ID})
	j.log.Error("Release failed — pushed to DLQ", "evt", "CREDITS_RELEASE_FAILED", "originalErrorCode", originalCode,
		"releaseError", rootMessage(err), "durationMs", workflow.Now(ctx).Sub(start).Milliseconds())
	return true
}

func (j *job) capture(ctx workflow.Context, result activities.ModelResult) (*InferenceResult, error) {
	start := workflow.Now(ctx)
	// Capture must happen even if the caller cancels now: the model ran.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	err := j.await(dctx, workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, billingActivityOptions()), billing.Capture,
		activities.CaptureInput{JobID: j.in.JobID, ReservationID: j.reservation.ID, Usage: result.Usage}), nil)
	if err == nil {
		if err := j.transition(dctx, StateInferenceSucceeded, StateCaptured); err != nil {
			return nil, err
		}
		j.metrics.Timer("billing.capture.duration_ms").Record(workflow.Now(ctx).Sub(start))
		j.metrics.Counter("billing.capture.success").Inc(1)
		j.log.Info("Credits captured", "evt", "CREDITS_CAPTURED", "actualUsage", result.Usage,
			"durationMs", workflow.Now(ctx).Sub(start).Milliseconds())
		return &InferenceResult{Success: true, Data: result}, nil
	}

	j.metrics.Counter("billing.capture.failure").Inc(1)
	if err := j.transition(dctx, StateInferenceSucceeded, StateReconciliationRequired); err != nil {
		return nil, err
	}
	enqueued := j.enqueueDLQ(dctx, "CAPTURE_FAILED", map[string]any{
		"reservationId": j.reservation.ID, "actualUsage": result.Usage, "captureError": errorMeta(err), "retriable": true,
	}, &activities.ReconcileInput{Type: "CAPTURE_FAILED", JobID: j.in.JobID, SchemaVersion: InferenceWorkflowDLQ,
		ReservationID: j.reservation.ID, Usage: result.Usage})
	j.log.Error("Capture failed", "evt", "CREDITS_CAPTURE_FAILED", "error", rootMessage(err), "dlqEnqueued", enqueued,
		"durationMs", workflow.Now(ctx).Sub(start).Milliseconds())
	if j.settings.policy == StrictBilling {
		// The model's output is not delivered without confirmed billing.
		return nil, j.fail(CodeCaptureFailed, "Model succeeded but billing capture failed: "+rootMessage(err), true)
	}
	j.log.Warn("Returning success under best_effort_billing; billing reconciliation pending",
		"evt", "BILLING_PENDING_RECONCILIATION", "jobId", j.in.JobID)
	return &InferenceResult{Success: true, Data: result, BillingPending: true}, nil
}

// transition is the seed's safeTransition. The state lives in the workflow,
// so the store cannot be down; an invalid transition is a bug guard:
// STATE_CONFLICT, paging severity, a TRANSITION_FAILED DLQ record.
func (j *job) transition(ctx workflow.Context, from, to JobState) error {
	err := j.machine.transition(from, to)
	if err == nil {
		j.stateDirty = true
		return nil
	}
	j.metrics.WithTags(map[string]string{"errorCode": CodeStateConflict, "fromState": string(from), "toState": string(to)}).
		Counter("job_state.transition.failure").Inc(1)
	j.log.Error("State machine invariant violated — STATE_CONFLICT", append([]any{"evt", "STATE_TRANSITION_CONFLICT",
		"from", from, "to", to, "current", j.machine.state}, logging.Critical...)...)
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	j.enqueueDLQ(dctx, "TRANSITION_FAILED", map[string]any{
		"attemptedFrom": from, "attemptedTo": to, "transitionError": errorMeta(err), "retriable": false,
	}, nil)
	return j.fail(CodeStateConflict, "State transition "+string(from)+" → "+string(to)+" failed", false)
}

// enqueueDLQ persists a versioned DLQ record (the seed's safeEnqueueDlq:
// never fails the saga) and, for a capture or release, starts the job's
// reconciliation workflow, which outlives this one.
func (j *job) enqueueDLQ(ctx workflow.Context, typ string, fields map[string]any, reconcile *activities.ReconcileInput) bool {
	payload := map[string]any{
		"schemaVersion": InferenceWorkflowDLQ, "type": typ, "occurredAt": workflow.Now(ctx).UTC().Format(time.RFC3339Nano),
		"service": "inference-saga", "jobId": j.in.JobID, "userId": j.in.UserID, "modelId": j.in.Payload.ModelID,
	}
	for k, v := range fields {
		payload[k] = v
	}
	raw, _ := json.Marshal(payload) // plain maps of strings and numbers
	m := j.metrics.WithTags(map[string]string{"dlqType": typ})
	err := j.await(ctx, workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, billingActivityOptions()), billing.EnqueueDLQ,
		activities.DLQInput{Type: typ, JobID: j.in.JobID, SchemaVersion: InferenceWorkflowDLQ, Payload: raw}), nil)
	if err != nil {
		m.Counter("dlq.enqueue.failure").Inc(1)
		j.log.Error("DLQ_ENQUEUE_FAILED — MANUAL RECONCILIATION REQUIRED", append([]any{"evt", "DLQ_ENQUEUE_FAILED",
			"jobId", j.in.JobID, "innerType", typ, "dlqError", rootMessage(err)}, logging.Critical...)...)
		return false
	}
	m.Counter("dlq.enqueue.success").Inc(1)
	if reconcile != nil {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            ReconcileWorkflowID(j.in.JobID),
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		})
		child := workflow.ExecuteChildWorkflow(cctx, Reconcile, *reconcile, j.settings.reconcile)
		if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			j.log.Error("Could not start reconciliation", "jobId", j.in.JobID, "error", err)
		}
	}
	return true
}

func (j *job) fail(code, msg string, billingUnresolved bool) error {
	details := InferenceFailure{JobID: j.in.JobID, RetryStrategy: RetryStrategyFor(code), BillingUnresolved: billingUnresolved,
		State: string(j.machine.state)}
	return temporal.NewApplicationErrorWithOptions(msg, code, temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{details}})
}

// syncState upserts JobId and BillingState if the state changed.
func (j *job) syncState(ctx workflow.Context) {
	if !j.stateDirty {
		return
	}
	j.stateDirty = false
	_ = workflow.UpsertTypedSearchAttributes(ctx, JobIDKey.ValueSet(j.in.JobID), BillingStateKey.ValueSet(string(j.machine.state)))
}

// startedWithState reports whether the start request already set JobId and
// BillingState=CLAIMED.
func startedWithState(ctx workflow.Context) bool {
	sa := workflow.GetTypedSearchAttributes(ctx)
	state, ok := sa.GetKeyword(BillingStateKey)
	_, hasJob := sa.GetKeyword(JobIDKey)
	return ok && hasJob && state == string(StateClaimed)
}

// modelActivityOptions: the job's timeout is enforced inside the activity
// (MODEL_TIMEOUT, final). Temporal retries only a lost worker, detected by the
// heartbeat timeout; the model call's own failures are non-retryable.
func modelActivityOptions(timeout time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: timeout + 10*time.Second,
		HeartbeatTimeout:    5 * activities.HeartbeatEvery,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	}
}

// modelErrorCode maps a CallModel failure to the seed's code.
func modelErrorCode(err error) string {
	switch t := errorType(err); t {
	case activities.ModelTimeout, activities.ModelRateLimited, activities.ModelServerError, activities.ModelClientError:
		return t
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) || temporal.IsCanceledError(err) {
		return CodeModelTimeout // the seed's AbortError
	}
	return CodeModelServerError
}

func errorType(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	return ""
}

// errorMeta is the seed's ErrorMeta for DLQ payloads.
func errorMeta(err error) map[string]any {
	meta := map[string]any{"message": rootMessage(err), "name": "Error", "hasStack": false}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		meta["name"], meta["code"] = "ApplicationError", appErr.Type()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		meta["name"], meta["code"] = "TimeoutError", timeoutErr.TimeoutType().String()
	}
	return meta
}
