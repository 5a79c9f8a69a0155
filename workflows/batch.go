package workflows

import (
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/wire"
)

// Values of the BatchState search attribute.
const (
	BatchRunning   = "RUNNING"
	BatchCompleted = "COMPLETED"
	BatchCancelled = "CANCELLED"
)

// Batch workflow changes (see workflows/doc.go).
const (
	changeBatchItemTypes  = "batch-item-types"
	versionBatchItemTypes = 1
)

// ConsensusBatch evaluates a list of items: one ConsensusEvaluation child
// per item (id consensus-<itemId>), at most Concurrency in flight. A run
// reads at most ItemsPerRun items and starts their children, waits for them, writes
// their result lines to the blob store and continues as new with the
// cursor, so history stays bounded however long the list.
//
// An item evaluated before (by an earlier batch or by hand) is not
// evaluated again: its child start meets the existing execution and the
// batch reads that execution's outcome (activity AwaitEvaluation) instead.
// Only an evaluation that ended without a result, or, with RetryFailed, one
// that failed retryably, is started again.
// invalidBatch refuses a batch input: VALIDATION_FAILED, never retried,
// naming each invalid field in the message and, typed, in the details
// (wire.BatchFailure). Only the failure's details changed when they were
// added: a run refused at its first task records no other command.
func invalidBatch(in wire.BatchInput, err error) error {
	details := wire.BatchFailure{BatchID: in.BatchID, RetryStrategy: RetryStrategyFor(wire.CodeValidationFailed),
		InvalidFields: wire.AsFieldErrors(err)}
	return temporal.NewApplicationErrorWithOptions("Invalid batch input: "+err.Error(), string(wire.CodeValidationFailed),
		temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{details}})
}

func ConsensusBatch(ctx workflow.Context, in wire.BatchInput) (*wire.BatchResult, error) {
	if err := in.Validate(); err != nil {
		return nil, invalidBatch(in, err)
	}
	// An inline item with a field of the wrong JSON type used to start its
	// evaluation with that field at its default; refused now, as the whole
	// input is for its own fields. GetVersion only on that path, so runs
	// with clean input record no marker.
	if bad := in.UndecodableItems(); len(bad) > 0 &&
		workflow.GetVersion(ctx, changeBatchItemTypes, workflow.DefaultVersion, versionBatchItemTypes) >= versionBatchItemTypes {
		return nil, invalidBatch(in, bad)
	}
	b := &batchRun{ctx: ctx, in: in, sel: workflow.NewSelector(ctx), perRun: in.ItemsPerRun}
	if b.perRun == 0 {
		b.perRun = wire.DefaultBatchItemsPerRun
	}
	if in.State != nil {
		b.st = *in.State
	} else {
		b.st = wire.BatchState{StartedAt: workflow.Now(ctx), Total: len(in.Items)}
		if in.ItemsRef != nil {
			if err := workflow.ExecuteActivity(blobCtx(ctx), wire.ActivityCountBatchItems, *in.ItemsRef).Get(ctx, &b.st.Total); err != nil {
				return nil, batchInputFailure(err)
			}
		}
		if err := workflow.UpsertTypedSearchAttributes(ctx, BatchIDKey.ValueSet(in.BatchID), BatchStateKey.ValueSet(BatchRunning)); err != nil {
			return nil, err
		}
	}
	b.st.Runs++
	if b.st.Counts.FailedByCode == nil {
		b.st.Counts.FailedByCode = map[wire.Code]int{}
	}
	if err := workflow.SetQueryHandler(ctx, wire.QueryProgress, b.progress); err != nil {
		return nil, err
	}

	for {
		if ctx.Err() == nil {
			// A read cut short by a cancel goes to the cancel path below.
			if err := b.fill(); err != nil && ctx.Err() == nil {
				return nil, batchInputFailure(err)
			}
		}
		if b.running == 0 {
			break
		}
		b.sel.Select(ctx)
	}

	if ctx.Err() != nil {
		// Cancelled: the running children were cancelled with ctx and the
		// rest never started. What settled is still written.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		res, err := b.finish(dctx, BatchCancelled)
		if err != nil {
			return nil, err
		}
		return nil, temporal.NewCanceledError(*res)
	}
	if !b.eof() {
		if err := b.flush(ctx); err != nil {
			return nil, err
		}
		next := b.in
		next.State = &b.st
		next.Items = in.Items
		return nil, workflow.NewContinueAsNewError(ctx, wire.WorkflowConsensusBatch, next)
	}
	return b.finish(ctx, BatchCompleted)
}

// batchRun is one run's state. Everything is changed from the workflow's
// own coroutine (selector callbacks run inside Select), so no locking.
type batchRun struct {
	ctx     workflow.Context
	in      wire.BatchInput
	st      wire.BatchState
	sel     workflow.Selector
	perRun  int
	started int // items read by this run
	running int // children and AwaitEvaluation calls in flight
	page    []wire.ConsensusInput
	lines   []wire.BatchResultLine // settled this run, not yet written
}

func (b *batchRun) eof() bool {
	if b.in.ItemsRef != nil {
		return b.st.Next >= b.in.ItemsRef.Size
	}
	return b.st.Next >= int64(len(b.in.Items))
}

// fill starts items until the window is full, reading pages as needed. A
// run reads no new page once it has started perRun children (or the server
// suggests continuing as new): it finishes the page it has, then ends.
func (b *batchRun) fill() error {
	for b.running < b.in.Concurrency {
		if len(b.page) == 0 {
			if b.eof() || b.started >= b.perRun || workflow.GetInfo(b.ctx).GetContinueAsNewSuggested() {
				return nil
			}
			if err := b.readPage(); err != nil {
				return err
			}
			continue
		}
		item := b.page[0]
		b.page = b.page[1:]
		b.start(item, enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, 0)
	}
	return nil
}

func (b *batchRun) readPage() error {
	if b.in.ItemsRef == nil {
		end := min(b.st.Next+int64(b.pageSize()), int64(len(b.in.Items)))
		b.page = b.in.Items[b.st.Next:end]
		b.started += len(b.page)
		b.st.Next = end
		return nil
	}
	var out wire.ReadBatchItemsOutput
	in := wire.ReadBatchItemsInput{Ref: *b.in.ItemsRef, Offset: b.st.Next, Max: b.pageSize()}
	if err := workflow.ExecuteActivity(blobCtx(b.ctx), wire.ActivityReadBatchItems, in).Get(b.ctx, &out); err != nil {
		return err
	}
	if out.Next <= b.st.Next {
		return errors.New("items file: page read made no progress")
	}
	b.page, b.st.Next = out.Items, out.Next
	b.started += len(out.Items) + len(out.Rejected)
	for _, l := range out.Rejected {
		b.settle(l)
	}
	return nil
}

// pageSize: a page, or what is left of the run's items.
func (b *batchRun) pageSize() int { return min(wire.BatchPageItems, b.perRun-b.started) }

// start starts item's evaluation. The first attempt refuses an id used
// before (REJECT_DUPLICATE), which sends the batch to the earlier outcome;
// the second, made only for an evaluation that may run again, allows a
// failed one to be replaced (ALLOW_DUPLICATE_FAILED_ONLY), never a
// successful one.
func (b *batchRun) start(item wire.ConsensusInput, policy enumspb.WorkflowIdReusePolicy, attempt int) {
	if err := wire.ValidateID("itemId", item.ItemID); err != nil {
		b.settle(wire.FailedLine(item.ItemID, wire.CodeValidationFailed, "Invalid input: "+err.Error(), wire.NoRetry, nil))
		return
	}
	cctx := workflow.WithChildOptions(b.ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            wire.ConsensusWorkflowID(item.ItemID),
		WorkflowIDReusePolicy: policy,
		// Cancelling the batch cancels the evaluations it has running.
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		TypedSearchAttributes: temporal.NewSearchAttributes(ItemIDKey.ValueSet(item.ItemID), BatchIDKey.ValueSet(b.in.BatchID)),
	})
	f := workflow.ExecuteChildWorkflow(cctx, wire.WorkflowConsensusEvaluation, item)
	b.running++
	b.sel.AddFuture(f, func(f workflow.Future) {
		b.running--
		var r wire.ConsensusResult
		err := f.Get(b.ctx, &r)
		switch {
		case err == nil:
			b.settle(wire.ResultLine(r))
		case temporal.IsWorkflowExecutionAlreadyStartedError(err):
			b.await(item, attempt)
		case b.ctx.Err() != nil:
			// The batch is cancelled: the item was not evaluated and
			// gets no line; running the batch again evaluates it.
		default:
			b.settle(childFailureLine(item.ItemID, err))
		}
	})
}

// await reads the outcome of the item's existing evaluation, waiting for it
// if it is still running, and starts it again when it may.
func (b *batchRun) await(item wire.ConsensusInput, attempt int) {
	actx := workflow.WithActivityOptions(b.ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Hour, // the evaluation may still be running
		HeartbeatTimeout:    30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 10},
	})
	f := workflow.ExecuteActivity(actx, wire.ActivityAwaitEvaluation, item.ItemID)
	b.running++
	b.sel.AddFuture(f, func(f workflow.Future) {
		b.running--
		var o wire.EvaluationOutcome
		err := f.Get(b.ctx, &o)
		switch {
		case b.ctx.Err() != nil:
			return
		case err != nil:
			b.settle(wire.FailedLine(item.ItemID, wire.CodeNotEvaluated, "Reading the earlier evaluation failed: "+rootMessage(err), wire.RetryWithBackoff, nil))
			return
		}
		rerun := o.Status == wire.EvaluationNotEvaluated ||
			(o.Status == wire.EvaluationFailed && b.in.RetryFailed && o.Line.Retryable())
		if rerun && attempt == 0 {
			b.start(item, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY, attempt+1)
			return
		}
		b.settle(o.Line)
	})
}

// settle records an item's line and counts it.
func (b *batchRun) settle(l wire.BatchResultLine) {
	b.lines = append(b.lines, l)
	c := &b.st.Counts
	switch l.Status {
	case wire.ItemSucceeded:
		c.Succeeded++
	case wire.ItemDegraded:
		c.Degraded++
	default:
		c.Failed++
		if c.FailedByCode == nil {
			c.FailedByCode = map[wire.Code]int{}
		}
		if l.Error != nil {
			c.FailedByCode[l.Error.Code]++
		}
	}
}

// flush writes this run's lines as one JSONL part in the blob store.
func (b *batchRun) flush(ctx workflow.Context) error {
	if len(b.lines) == 0 {
		return nil
	}
	var ref wire.BlobRef
	if err := workflow.ExecuteActivity(blobCtx(ctx), wire.ActivityWriteBatchResults, b.lines).Get(ctx, &ref); err != nil {
		return err
	}
	b.st.Parts = append(b.st.Parts, ref)
	b.lines = nil
	return nil
}

// finish writes what is left, joins the parts into the results file and
// records the batch's end state.
func (b *batchRun) finish(ctx workflow.Context, state string) (*wire.BatchResult, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	res := &wire.BatchResult{BatchID: b.in.BatchID, Total: b.st.Total, Counts: b.st.Counts}
	if len(b.st.Parts) > 0 {
		var ref wire.BlobRef
		if err := workflow.ExecuteActivity(blobCtx(ctx), wire.ActivityAssembleBatchResults, b.st.Parts).Get(ctx, &ref); err != nil {
			return nil, err
		}
		res.Results = &ref
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, BatchStateKey.ValueSet(state)); err != nil {
		return nil, err
	}
	return res, nil
}

// progress answers the progress query.
func (b *batchRun) progress() (wire.BatchProgress, error) {
	p := wire.BatchProgress{BatchCounts: b.st.Counts, Total: b.st.Total, Running: b.running, Runs: b.st.Runs, Cancelled: b.ctx.Err() != nil}
	elapsed := workflow.Now(b.ctx).Sub(b.st.StartedAt).Seconds()
	if done := b.st.Counts.Done(); done > 0 && elapsed > 0 {
		p.ItemsPerSecond = float64(done) / elapsed
		p.EstimatedSecondsLeft = float64(max(b.st.Total-done, 0)) / p.ItemsPerSecond
	}
	return p, nil
}

// blobCtx: blob-store activities are quick; a bad file is final.
func blobCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5, NonRetryableErrorTypes: codes(wire.CodeValidationFailed)},
	})
}

// batchInputFailure: an unreadable items file fails the batch with
// VALIDATION_FAILED; other errors (cancellation) pass through.
func batchInputFailure(err error) error {
	if errorType(err) == wire.CodeValidationFailed {
		return temporal.NewNonRetryableApplicationError("Invalid batch items: "+rootMessage(err), string(wire.CodeValidationFailed), err)
	}
	return err
}

// childFailureLine reads an evaluation's typed failure; a run that ended
// otherwise (terminated, timed out, cancelled by hand) was not evaluated.
func childFailureLine(itemID string, err error) wire.BatchResultLine {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() == "" {
		return wire.FailedLine(itemID, wire.CodeNotEvaluated, "Evaluation ended without a result: "+rootMessage(err), wire.RetryWithBackoff, nil)
	}
	var f wire.ConsensusFailure
	var details *wire.ConsensusFailure
	strategy := wire.NoRetry
	if appErr.HasDetails() && appErr.Details(&f) == nil {
		details, strategy = &f, f.RetryStrategy
	}
	return wire.FailedLine(itemID, wire.Code(appErr.Type()), appErr.Message(), strategy, details)
}
