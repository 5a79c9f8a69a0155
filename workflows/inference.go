package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/wire"
)

// InferenceJob is the idempotent billed inference saga: claim the job,
// reserve credits, call the model (capped at the hold's maximum
// completion), capture the actual usage (at most the hold) or release the
// hold, and hand whatever could not be settled to reconciliation. The job
// runs once however it was started: the workflow refuses a workflow id other
// than wire.InferenceWorkflowID(jobId), and the ledger's job claim refuses
// any run but the first (DUPLICATE_JOB, before anything is reserved or
// called). Metrics, logs and the BillingState search attribute are the
// recorder's (inference_recorder.go).
func InferenceJob(ctx workflow.Context, in wire.InferenceInput) (*wire.InferenceResult, error) {
	j := &job{in: in, machine: newJobMachine(), rec: newSagaRecorder(ctx)}
	// Runs started before saga-v3 replay without its marker (DefaultVersion)
	// and take the older gates below, as they did when recorded.
	j.v3 = workflow.GetVersion(ctx, changeSagaV3, workflow.DefaultVersion, versionSagaV3) >= versionSagaV3
	j.rec.sparseAlways = j.v3
	if err := workflow.SetQueryHandler(ctx, wire.QueryState, func() (wire.JobStatus, error) {
		return wire.JobStatus{State: j.machine.state, History: j.machine.history, ReservationID: j.reservation.ID}, nil
	}); err != nil {
		return nil, err
	}

	// 1–2. Validate identity, payload and options: nothing is reserved for bad input.
	s, bad := inferenceSettingsOf(in)
	var err error
	if len(bad) > 0 {
		err = bad
	} else {
		err = j.checkAllowlisted(ctx)
	}
	if err != nil {
		j.rec.invalid(err)
		return nil, j.failInvalid(err)
	}
	j.settings = s
	j.rec.validated(ctx, in.Payload.ModelID, s.policy)

	// 3. Claim the job for this run; a refused run has changed nothing.
	// Runs started before the claim existed replay without it; saga-v3
	// includes it.
	if j.v3 {
		j.version = versionClaimJob
	} else {
		j.version = workflow.GetVersion(ctx, changeClaimJob, workflow.DefaultVersion, versionClaimJob)
	}
	if j.version >= versionClaimJob {
		if err := j.claim(ctx); err != nil {
			return nil, err
		}
	}
	defer func() {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		j.rec.syncState(dctx, j.in.JobID, j.machine.state)
	}()

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

// The change that added the job claim, max_tokens on the model call and the
// capture capped at the hold (see CONTRACT.md#changing-workflow-code-safely).
const (
	changeClaimJob  = "claim-job"
	versionClaimJob = workflow.Version(1)
)

// The change that runs the ledger steps (ClaimJob, Reserve, Capture,
// Release) as local activities, in the workflow task that asks for them:
// each was a scheduled activity, with its own task round trip, for a local
// SQLite or Postgres transaction. Version 1 implies claim-job and
// billing-state-sparse, whose own markers it no longer writes. The model call
// and the DLQ record stay regular activities.
const (
	changeSagaV3  = "saga-v3"
	versionSagaV3 = workflow.Version(1)
)

// The change that always reconciles what the ledger may hold: a reserve that
// failed for want of the ledger (reconcileLostReserve), and a failed capture
// or release whose DLQ record could not be written (enqueueDLQ; the
// reconciliation writes it). GetVersion only on those paths.
const (
	changeReconcileAlways  = "reconcile-always"
	versionReconcileAlways = workflow.Version(1)
)

// reconcileAlways asks the reconcile-always gate.
func reconcileAlways(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, changeReconcileAlways, workflow.DefaultVersion, versionReconcileAlways) >= versionReconcileAlways
}

// job is one saga run: its input, state machine and what it has reserved.
type job struct {
	in          wire.InferenceInput
	settings    inferenceSettings
	machine     *jobMachine
	reservation wire.Reservation
	rec         *sagaRecorder
	version     workflow.Version // of changeClaimJob (versionClaimJob under saga-v3)
	v3          bool             // saga-v3: ledger steps as local activities
}

// ledgerCall runs one ledger step (activity by its registered name) with the
// billing retry policy: under saga-v3 as a local activity, before that as a
// regular one. Either way a business rejection is final and an
// infrastructure failure is retried 5 times with backoff.
func (j *job) ledgerCall(ctx workflow.Context, activity string, arg any) workflow.Future {
	if j.v3 {
		return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, billingLocalActivityOptions()), activity, arg)
	}
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, billingActivityOptions()), activity, arg)
}

// await makes the search attributes current, then waits for f: upserts are
// issued once per workflow task, before the workflow blocks.
func (j *job) await(ctx workflow.Context, f workflow.Future, v any) error {
	j.rec.syncState(ctx, j.in.JobID, j.machine.state)
	return f.Get(ctx, v)
}

func (j *job) checkAllowlisted(ctx workflow.Context) error {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 5 * time.Second})
	var check wire.ModelCheck
	// By registered name: a local activity runs the worker's instance, which
	// holds the catalog.
	if err := workflow.ExecuteLocalActivity(lctx, wire.ActivityCheckModel, j.in.Payload.ModelID).Get(ctx, &check); err != nil {
		return err
	}
	if !check.Allowlisted {
		return wire.FieldErrors{{Field: "payload.modelId", Reason: fmt.Sprintf("%q is not allowlisted", j.in.Payload.ModelID)}}
	}
	return nil
}

// claim makes this run the job's only one: its workflow id must be the
// job's, and the ledger's claim (ClaimJob, keyed by job id) must name this
// run. The claim is idempotent for the run, so activity retries, replays and
// resets (which keep the original run id) pass; a second run of the job,
// started under any id or reuse policy, is refused before it reserves.
func (j *job) claim(ctx workflow.Context) error {
	info := workflow.GetInfo(ctx)
	if want := wire.InferenceWorkflowID(j.in.JobID); info.WorkflowExecution.ID != want {
		j.rec.duplicateBlocked(j.in.JobID, wire.ReasonWorkflowIDMismatch, info.WorkflowExecution.ID, "")
		return j.failDuplicate(wire.ReasonWorkflowIDMismatch, "job "+j.in.JobID+" must run as workflow "+want+", not "+
			info.WorkflowExecution.ID+": only that id keeps a job to one run")
	}
	runID := info.OriginalRunID
	if runID == "" {
		runID = info.WorkflowExecution.RunID
	}
	step := j.rec.begin(ctx, "billing.claim")
	err := j.ledgerCall(ctx, wire.ActivityClaimJob, wire.ClaimInput{JobID: j.in.JobID, RunID: runID}).Get(ctx, nil)
	switch {
	case err == nil:
		step.succeeded("JOB_CLAIMED", "Job claimed", "jobId", j.in.JobID, "runId", runID)
		return nil
	case temporal.IsCanceledError(err):
		return err // nothing claimed that matters: this run ends here
	case errorType(err) == wire.CodeDuplicateJob:
		var holder string
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			_ = appErr.Details(&holder)
		}
		j.rec.duplicateBlocked(j.in.JobID, wire.ReasonJobClaimed, info.WorkflowExecution.ID, holder)
		return j.failDuplicate(wire.ReasonJobClaimed, "job "+j.in.JobID+" already ran (run "+holder+"); a job id runs once")
	}
	step.failed(wire.CodeInfraUnavailable, "JOB_CLAIM_FAILED", "Could not claim the job", "error", rootMessage(err))
	return j.fail(wire.CodeInfraUnavailable, "Could not claim job: "+rootMessage(err), false)
}

// failDuplicate refuses this run: DUPLICATE_JOB, with no job state (the run
// never owned the job). The message starts with the code, as the client
// library's DuplicateJobError does: the Temporal CLI shows only the message.
func (j *job) failDuplicate(reason, msg string) error {
	details := wire.InferenceFailure{JobID: j.in.JobID, RetryStrategy: RetryStrategyFor(wire.CodeDuplicateJob), Reason: reason}
	return temporal.NewApplicationErrorWithOptions(string(wire.CodeDuplicateJob)+" ("+reason+"): "+msg, string(wire.CodeDuplicateJob), temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{details}})
}

func (j *job) reserveInput() wire.ReserveInput {
	return wire.ReserveInput{JobID: j.in.JobID, UserID: j.in.UserID, ModelID: j.in.Payload.ModelID, PromptTokens: j.in.Payload.PromptTokens}
}

func (j *job) reserve(ctx workflow.Context) error {
	step := j.rec.begin(ctx, "billing.reserve")
	err := j.await(ctx, j.ledgerCall(ctx, wire.ActivityReserve, j.reserveInput()), &j.reservation)
	if err == nil {
		if err := j.transition(ctx, wire.StateClaimed, wire.StateReserved); err != nil {
			return err
		}
		step.succeeded("CREDITS_RESERVED", "Credits reserved", "reservationId", j.reservation.ID,
			"expectedCost", j.reservation.Amount, "currency", "micro-credits")
		return nil
	}
	if temporal.IsCanceledError(err) {
		j.compensateCancelledReserve(ctx)
		return err
	}
	t := errorType(err)
	rejected := t == wire.CodeBillingRejected || t == wire.CodeIdempotencyConflict
	code := wire.CodeInfraUnavailable
	if rejected {
		code = wire.CodeReservationFailed
	}
	step.failed(code, "CREDITS_RESERVE_FAILED", "Reservation failed", "isBillingRejection", rejected, "error", rootMessage(err))
	// The original reservation error is what the caller sees, even if this
	// transition trips the bug guard.
	_ = j.transition(ctx, wire.StateClaimed, wire.StateReservationFailed)
	if !rejected && reconcileAlways(ctx) {
		j.reconcileLostReserve(ctx, err)
	}
	return j.fail(code, "Could not reserve credits: "+rootMessage(err), false)
}

// compensateCancelledReserve: a reserve cancelled in flight may still have
// made its hold. Reserve is idempotent on its key, so asking again returns
// that hold (or makes one), and releasing it leaves the account as before.
func (j *job) compensateCancelledReserve(ctx workflow.Context) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var r wire.Reservation
	if err := j.ledgerCall(dctx, wire.ActivityReserve, j.reserveInput()).Get(dctx, &r); err != nil {
		return // nothing could be held
	}
	_ = j.ledgerCall(dctx, wire.ActivityRelease, wire.ReleaseInput{JobID: j.in.JobID, ReservationID: r.ID}).Get(dctx, nil)
}

// reconcileLostReserve: a reserve that failed for want of the ledger may
// have committed with its reply lost (the connection cut by an outage). Its
// reconciliation, once the ledger is back, reserves again under the job's
// key, which replays such a hold (or makes one), and releases it. The DLQ
// record is best effort here (the ledger is likely still down: the
// reconciliation writes it too); the reconciliation workflow is durable.
func (j *job) reconcileLostReserve(ctx workflow.Context, cause error) {
	p := j.dlqPayload(ctx, wire.DLQReserveUncertain)
	p.ReserveError, p.Retriable = errorMeta(cause), true
	reserve := j.reserveInput()
	in := wire.ReconcileInput{Type: wire.DLQReserveUncertain, JobID: j.in.JobID, SchemaVersion: wire.DLQSchemaVersion, Reserve: &reserve}
	_ = j.writeDLQ(ctx, p)
	j.startReconcile(ctx, in.WithRecord(p))
}

func (j *job) callModel(ctx workflow.Context) (wire.ModelResult, error) {
	if err := j.transition(ctx, wire.StateReserved, wire.StateInferenceRunning); err != nil {
		return wire.ModelResult{}, err
	}
	step := j.rec.begin(ctx, "model.call")
	var result wire.ModelResult
	err := j.await(ctx, workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, modelActivityOptions(j.settings.timeout)), wire.ActivityCallModel,
		j.modelInput()), &result)
	if err == nil {
		if err := j.transition(ctx, wire.StateInferenceRunning, wire.StateInferenceSucceeded); err != nil {
			return result, err
		}
		step.succeeded("MODEL_CALL_SUCCEEDED", "Model call succeeded", "usage", result.Usage)
		return result, nil
	}

	cancelled := temporal.IsCanceledError(err)
	code := modelErrorCode(err)
	step.failedTimed(code, "MODEL_CALL_FAILED", "Model call failed — releasing reservation", "cancelled", cancelled, "error", rootMessage(err))

	// Compensation runs in a disconnected context, so a cancelled workflow
	// still gives the credits back.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	unresolved := j.release(dctx, code)
	if cancelled {
		return result, err
	}
	return result, j.fail(code, "Model call failed: "+rootMessage(err), unresolved)
}

func (j *job) modelInput() wire.ModelInput {
	in := wire.ModelInput{JobID: j.in.JobID, ModelID: j.in.Payload.ModelID, Prompt: j.in.Payload.Prompt,
		PromptTokens: j.in.Payload.PromptTokens, TimeoutMs: int(j.settings.timeout.Milliseconds())}
	if j.version >= versionClaimJob {
		// The answer may not outgrow what was reserved for it.
		in.MaxTokens = j.reservation.MaxCompletionTokens
	}
	return in
}

// release returns the hold with rel_<jobId>; if that fails after its
// retries the job needs reconciliation (RELEASE_FAILED in the DLQ) and
// billing is unresolved. It never fails the saga itself.
func (j *job) release(ctx workflow.Context, modelCode wire.Code) (unresolved bool) {
	step := j.rec.begin(ctx, "billing.release")
	err := j.await(ctx, j.ledgerCall(ctx, wire.ActivityRelease, wire.ReleaseInput{JobID: j.in.JobID, ReservationID: j.reservation.ID}), nil)
	if err == nil {
		_ = j.transition(ctx, wire.StateInferenceRunning, wire.StateReleased)
		step.succeeded("CREDITS_RELEASED", "Reservation released", "reservationId", j.reservation.ID)
		return false
	}
	// Best effort: the DLQ record is the durable signal.
	if j.machine.transition(wire.StateInferenceRunning, wire.StateReconciliationRequired) == nil {
		j.rec.stateChanged()
	}
	p := j.dlqPayload(ctx, wire.DLQReleaseFailed)
	p.ReservationID, p.ModelErrorCode, p.ReleaseError, p.Retriable = j.reservation.ID, modelCode, errorMeta(err), true
	j.enqueueDLQ(ctx, p, &wire.ReconcileInput{Type: wire.DLQReleaseFailed, JobID: j.in.JobID, SchemaVersion: wire.DLQSchemaVersion,
		ReservationID: j.reservation.ID})
	step.failed(modelCode, "CREDITS_RELEASE_FAILED", "Release failed — pushed to DLQ", "originalErrorCode", modelCode,
		"releaseError", rootMessage(err))
	return true
}

// billedUsage is what the capture charges: the model's usage, or, when it
// is above the hold's token bound (a provider that ignored max_tokens, a
// prompt longer than its estimate), the hold's maximum, which the ledger
// prices at exactly the hold. The overage is then on record (USAGE_OVERAGE).
func (j *job) billedUsage(actual wire.Usage) (billed wire.Usage, over bool) {
	r := j.reservation
	if j.version < versionClaimJob || r.MaxTokens <= 0 || actual.TotalTokens <= r.MaxTokens {
		return actual, false
	}
	return wire.Usage{PromptTokens: r.MaxTokens - r.MaxCompletionTokens, CompletionTokens: r.MaxCompletionTokens, TotalTokens: r.MaxTokens}, true
}

// recordOverage stores the USAGE_OVERAGE record: the job was billed at the
// hold, and a person decides about the tokens above it. No reconciliation.
func (j *job) recordOverage(ctx workflow.Context, actual, billed wire.Usage) {
	j.rec.usageOverage(j.in.JobID, j.reservation.ID, actual, billed, j.reservation.MaxTokens)
	p := j.dlqPayload(ctx, wire.DLQUsageOverage)
	p.ReservationID, p.ActualUsage, p.BilledUsage, p.MaxTokens = j.reservation.ID, &actual, &billed, j.reservation.MaxTokens
	j.enqueueDLQ(ctx, p, nil)
}

func (j *job) capture(ctx workflow.Context, result wire.ModelResult) (*wire.InferenceResult, error) {
	step := j.rec.begin(ctx, "billing.capture")
	// Capture must happen even if the caller cancels now: the model ran.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	billed, over := j.billedUsage(result.Usage)
	err := j.await(dctx, j.ledgerCall(dctx, wire.ActivityCapture,
		wire.CaptureInput{JobID: j.in.JobID, ReservationID: j.reservation.ID, Usage: billed}), nil)
	if over {
		j.recordOverage(dctx, result.Usage, billed)
	}
	if err == nil {
		if err := j.transition(dctx, wire.StateInferenceSucceeded, wire.StateCaptured); err != nil {
			return nil, err
		}
		step.succeeded("CREDITS_CAPTURED", "Credits captured", "actualUsage", result.Usage)
		return &wire.InferenceResult{Success: true, Data: result}, nil
	}

	if err := j.transition(dctx, wire.StateInferenceSucceeded, wire.StateReconciliationRequired); err != nil {
		return nil, err
	}
	p := j.dlqPayload(dctx, wire.DLQCaptureFailed)
	// The record and its reconciliation carry the usage the capture bills.
	p.ReservationID, p.ActualUsage, p.CaptureError, p.Retriable = j.reservation.ID, &billed, errorMeta(err), true
	enqueued := j.enqueueDLQ(dctx, p, &wire.ReconcileInput{Type: wire.DLQCaptureFailed, JobID: j.in.JobID, SchemaVersion: wire.DLQSchemaVersion,
		ReservationID: j.reservation.ID, Usage: billed})
	step.failed("", "CREDITS_CAPTURE_FAILED", "Capture failed", "error", rootMessage(err), "dlqEnqueued", enqueued)
	if j.settings.policy == wire.StrictBilling {
		// The model's output is not delivered without confirmed billing.
		return nil, j.fail(wire.CodeCaptureFailed, "Model succeeded but billing capture failed: "+rootMessage(err), true)
	}
	j.rec.billingPending(j.in.JobID)
	return &wire.InferenceResult{Success: true, Data: result, BillingPending: true}, nil
}

// transition is the saga's safe transition. The state lives in the
// workflow, so the store cannot be down; an invalid transition is a bug
// guard: STATE_CONFLICT, paging severity, a TRANSITION_FAILED DLQ record.
func (j *job) transition(ctx workflow.Context, from, to wire.JobState) error {
	err := j.machine.transition(from, to)
	if err == nil {
		j.rec.stateChanged()
		return nil
	}
	j.rec.transitionConflict(from, to, j.machine.state)
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	p := j.dlqPayload(dctx, wire.DLQTransitionFailed)
	p.AttemptedFrom, p.AttemptedTo, p.TransitionError = from, to, errorMeta(err)
	j.enqueueDLQ(dctx, p, nil)
	return j.fail(wire.CodeStateConflict, "State transition "+string(from)+" → "+string(to)+" failed", false)
}

// dlqPayload starts a DLQ record of type typ for this job.
func (j *job) dlqPayload(ctx workflow.Context, typ wire.DLQType) wire.DLQPayload {
	return wire.DLQPayload{
		SchemaVersion: wire.DLQSchemaVersion, Type: typ, OccurredAt: workflow.Now(ctx).UTC().Format(time.RFC3339Nano),
		Service: wire.DLQService, JobID: j.in.JobID, UserID: j.in.UserID, ModelID: j.in.Payload.ModelID,
	}
}

// enqueueDLQ persists a versioned DLQ record (never failing the saga) and,
// for a capture or release, starts the job's reconciliation workflow, which
// outlives this one.
// If the record could not be written (the ledger down for longer than its
// retries), the reconciliation still starts and writes it (reconcile-always).
func (j *job) enqueueDLQ(ctx workflow.Context, p wire.DLQPayload, reconcile *wire.ReconcileInput) bool {
	written := j.writeDLQ(ctx, p)
	if reconcile != nil && (written || reconcileAlways(ctx)) {
		j.startReconcile(ctx, reconcile.WithRecord(p))
	}
	return written
}

// writeDLQ persists a versioned DLQ record; false if it could not.
func (j *job) writeDLQ(ctx workflow.Context, p wire.DLQPayload) bool {
	err := j.await(ctx, workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, billingActivityOptions()), wire.ActivityEnqueueDLQ,
		wire.DLQInput{Type: p.Type, JobID: j.in.JobID, SchemaVersion: p.SchemaVersion, Payload: p}), nil)
	j.rec.dlqEnqueued(j.in.JobID, p.Type, err)
	return err == nil
}

// startReconcile starts the job's reconciliation workflow, which outlives
// this one.
func (j *job) startReconcile(ctx workflow.Context, in wire.ReconcileInput) {
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            wire.ReconcileWorkflowID(j.in.JobID),
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	})
	child := workflow.ExecuteChildWorkflow(cctx, wire.WorkflowReconcile, in, j.settings.reconcile)
	if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		j.rec.reconcileNotStarted(j.in.JobID, err)
	}
}

// failInvalid ends a job whose input was refused before anything was
// reserved: VALIDATION_FAILED, never retried, naming each invalid field in
// the message and, typed, in the details.
func (j *job) failInvalid(err error) error {
	details := wire.InferenceFailure{JobID: j.in.JobID, RetryStrategy: RetryStrategyFor(wire.CodeValidationFailed), State: j.machine.state}
	var bad wire.FieldErrors
	if errors.As(err, &bad) {
		details.InvalidFields = bad
	}
	return temporal.NewApplicationErrorWithOptions("Validation failed: "+err.Error(), string(wire.CodeValidationFailed),
		temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{details}})
}

func (j *job) fail(code wire.Code, msg string, billingUnresolved bool) error {
	details := wire.InferenceFailure{JobID: j.in.JobID, RetryStrategy: RetryStrategyFor(code), BillingUnresolved: billingUnresolved,
		State: j.machine.state}
	return temporal.NewApplicationErrorWithOptions(msg, string(code), temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{details}})
}

// modelActivityOptions: the job's timeout is enforced inside the activity
// (MODEL_TIMEOUT, final). Temporal retries only a lost worker, detected by the
// heartbeat timeout; the model call's own failures are non-retryable.
func modelActivityOptions(timeout time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: timeout + 10*time.Second,
		HeartbeatTimeout:    5 * wire.HeartbeatEvery,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	}
}

// modelErrorCode maps a CallModel failure to its code.
func modelErrorCode(err error) wire.Code {
	switch t := errorType(err); t {
	case wire.CodeModelTimeout, wire.CodeModelRateLimited, wire.CodeModelServerError, wire.CodeModelClientError:
		return t
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) || temporal.IsCanceledError(err) {
		return wire.CodeModelTimeout // an aborted call
	}
	return wire.CodeModelServerError
}
