package workflows

import (
	"errors"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/wire"
)

// ConsensusEvaluation values one item from its image: VisionCallCount vision
// calls in parallel, then a judge over a quorum of them. Progress, metrics,
// logs and search attributes are the recorder's (consensus_recorder.go).
func ConsensusEvaluation(ctx workflow.Context, in wire.ConsensusInput) (*wire.ConsensusResult, error) {
	rec, err := newConsensusRecorder(ctx)
	if err != nil {
		return nil, err
	}
	// end turns a step's failure into the run's typed failure.
	end := func(err error) error {
		var f *consensusFailure
		if !errors.As(err, &f) {
			return err // the workflow itself was cancelled
		}
		f.details.ItemID = in.ItemID
		rec.failed(f.code, f.details)
		return temporal.NewApplicationErrorWithOptions(f.msg, string(f.code), temporal.ApplicationErrorOptions{
			NonRetryable: true, Details: []any{f.details}, Cause: f.cause,
		})
	}

	// 1. Validate: nothing is called for bad input.
	s, bad := consensusSettingsOf(in)
	if len(bad) > 0 {
		return nil, end(invalidInput(bad))
	}
	rec.started(in.ItemID, s)
	if err := verifyImage(ctx, in.Image); err != nil {
		return nil, end(err)
	}

	// 2. Vision calls in parallel; early cancel once quorum is in.
	rec.stage(wire.StageVision)
	valuations, failures, err := runVisionCalls(ctx, in, s, rec)
	if err != nil {
		return nil, end(err)
	}
	if err := checkQuorum(len(valuations), failures, s.quorum, rec); err != nil {
		return nil, end(err)
	}

	// 3. Judge over valuations ordered by call index, as anonymous pairs.
	rec.stage(wire.StageJudge)
	slices.SortFunc(valuations, func(x, y wire.VisionResult) int { return x.CallIndex - y.CallIndex })
	judge, err := callJudge(ctx, in.ItemID, valuations, s.judgeTimeout)
	if err != nil {
		return nil, end(err)
	}

	// 4. Done.
	degraded := len(failures) > 0
	d := rec.completed(judge, degraded)
	return &wire.ConsensusResult{
		ItemID:     in.ItemID,
		Valuations: valuations,
		Judge:      judge,
		Degraded:   degraded,
		DurationMs: float64(d.Microseconds()) / 1000,
	}, nil
}

// consensusFailure is a step's business failure: the run ends with code.
type consensusFailure struct {
	code    wire.Code
	msg     string
	details wire.ConsensusFailure
	cause   error
}

func (f *consensusFailure) Error() string { return string(f.code) + ": " + f.msg }

// invalidInput fails the run for the named fields; the message names them
// too, once each ("Invalid input: options.quorum: 4 must be 1..3").
func invalidInput(bad wire.FieldErrors) error {
	return &consensusFailure{code: wire.CodeValidationFailed, msg: "Invalid input: " + bad.Error(),
		details: wire.ConsensusFailure{RetryStrategy: wire.NoRetry, InvalidFields: bad}}
}

// verifyImage reads a blob-stored image once, so a bad reference fails
// before any model is called. Inline images were checked by the settings.
// A blob that is missing, mismatched or no image is VALIDATION_FAILED; one
// that could not be read after the retries is IMAGE_UNAVAILABLE.
func verifyImage(ctx workflow.Context, im wire.Image) error {
	if im.Ref == nil {
		return nil
	}
	vctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: codes(wire.CodeValidationFailed)},
	})
	err := workflow.ExecuteActivity(vctx, wire.ActivityVerifyImage, im).Get(ctx, nil)
	switch {
	case err == nil:
		return nil
	case errorType(err) == wire.CodeValidationFailed:
		return invalidInput(wire.FieldErrors{{Field: "image.ref", Reason: rootMessage(err)}})
	case errors.Is(ctx.Err(), workflow.ErrCanceled):
		return err
	}
	code := activityErrorCode(err)
	strategy := wire.RetryWithBackoff
	if !code.Transient() {
		strategy = wire.DLQOnly
	}
	return &consensusFailure{code: wire.CodeImageUnavailable, msg: "Image unavailable: " + rootMessage(err),
		details: wire.ConsensusFailure{RetryStrategy: strategy}}
}

// runVisionCalls starts every slot, collects outcomes as they settle, and
// with early cancel stops the rest once quorum successes are in. Cancelled
// slots are neither successes nor failures.
func runVisionCalls(ctx workflow.Context, in wire.ConsensusInput, s consensusSettings, rec *consensusRecorder) (
	[]wire.VisionResult, []wire.SlotFailure, error,
) {
	visionCtx, cancelVision := workflow.WithCancel(workflow.WithActivityOptions(ctx, modelCallOptions(ctx, s.visionTimeout, MaxVisionRetries)))
	defer cancelVision()

	var (
		valuations []wire.VisionResult
		failures   []wire.SlotFailure
		settled    int
	)
	sel := workflow.NewSelector(ctx)
	for i := range VisionCallCount {
		f := workflow.ExecuteActivity(visionCtx, wire.ActivityVisionCall, wire.VisionInput{
			ItemID: in.ItemID, CallIndex: i, ModelID: s.modelID(i), Image: in.Image,
		})
		sel.AddFuture(f, func(f workflow.Future) {
			settled++
			var r wire.VisionResult
			err := f.Get(ctx, &r)
			switch {
			case err == nil:
				valuations = append(valuations, r)
				rec.slotSettled(i, wire.SlotSucceeded, "")
			case temporal.IsCanceledError(err):
				rec.slotSettled(i, wire.SlotCancelled, "")
			default:
				code := activityErrorCode(err)
				failures = append(failures, wire.SlotFailure{CallIndex: i, ErrorCode: code, Message: rootMessage(err)})
				rec.slotSettled(i, wire.SlotFailed, code)
			}
		})
	}
	for settled < VisionCallCount {
		sel.Select(ctx)
		if ctx.Err() != nil {
			return nil, nil, temporal.NewCanceledError()
		}
		if s.earlyCancel && len(valuations) == s.quorum && settled < VisionCallCount {
			// Quorum is in: cancel the rest. Whatever they would have
			// returned, even a result racing the cancel, counts as cancelled.
			cancelVision()
			rec.earlyCancelled(s.quorum)
			break
		}
	}
	slices.SortFunc(failures, func(x, y wire.SlotFailure) int { return x.CallIndex - y.CallIndex })
	return valuations, failures, nil
}

// checkQuorum fails the run when fewer than quorum calls succeeded.
func checkQuorum(succeeded int, failures []wire.SlotFailure, quorum int, rec *consensusRecorder) error {
	code := QuorumOutcome(succeeded, quorum)
	if code == "" {
		rec.quorumMet(succeeded, failures)
		return nil
	}
	summary := summarize(failures)
	strategy := visionRetryStrategy(summary, len(failures))
	details := wire.ConsensusFailure{RetryStrategy: strategy, FailureSummary: &summary, Failures: failures}
	if code == wire.CodeVisionAllFailed {
		rec.allVisionFailed(summary, failures)
		return &consensusFailure{code: wire.CodeVisionAllFailed, msg: "All vision calls failed", details: details}
	}
	rec.quorumNotMet(succeeded, quorum, strategy, summary, failures)
	return &consensusFailure{code: wire.CodeQuorumNotMet, details: details,
		msg: "Quorum not met: " + strconv.Itoa(succeeded) + "/" + strconv.Itoa(quorum) + " required vision calls succeeded"}
}

// QuorumOutcome is the evaluation's quorum rule: "" when succeeded vision
// calls meet quorum (the judge is asked next), else the code the run fails
// with. It is pure, and exported for checks that replay the rule over what
// the provider answered (internal/chaoscheck).
func QuorumOutcome(succeeded, quorum int) wire.Code {
	switch {
	case succeeded >= quorum:
		return ""
	case succeeded == 0:
		return wire.CodeVisionAllFailed
	}
	return wire.CodeQuorumNotMet
}

// JudgeFailureCode is the code a run fails with when its judge call failed
// with judgeCode after its retries (the rule callJudge applies).
func JudgeFailureCode(judgeCode wire.Code) wire.Code {
	switch judgeCode {
	case wire.CodeInvalidOutput:
		return wire.CodeJudgeInvalidOutput
	case wire.CodeInvalidInput:
		return wire.CodeJudgeInvalidInput
	}
	return wire.CodeJudgeFailed
}

// callJudge asks the judge for the consensus of the valuations.
func callJudge(ctx workflow.Context, itemID string, valuations []wire.VisionResult, timeout time.Duration) (wire.JudgeResult, error) {
	in := wire.JudgeInput{ItemID: itemID, Valuations: make([]wire.Valuation, len(valuations))}
	for i, v := range valuations {
		in.Valuations[i] = wire.Valuation{Value: v.Value, Confidence: v.Confidence}
	}
	judgeFailure := func(code wire.Code, msg string, judgeCode wire.Code, cause error) error {
		return &consensusFailure{code: code, msg: msg, cause: cause,
			details: wire.ConsensusFailure{RetryStrategy: judgeRetryStrategy(judgeCode), JudgeErrorCode: judgeCode}}
	}
	if err := wire.ValidateValuations(in.Valuations); err != nil {
		return wire.JudgeResult{}, judgeFailure(wire.CodeJudgeInvalidInput, "Malformed valuations sent to judge: "+err.Error(), wire.CodeInvalidInput, nil)
	}
	var judge wire.JudgeResult
	jctx := workflow.WithActivityOptions(ctx, modelCallOptions(ctx, timeout, MaxJudgeRetries))
	err := workflow.ExecuteActivity(jctx, wire.ActivityJudgeCall, in).Get(ctx, &judge)
	if err == nil {
		return judge, nil
	}
	if errors.Is(ctx.Err(), workflow.ErrCanceled) {
		return judge, err
	}
	code := activityErrorCode(err)
	switch failed := JudgeFailureCode(code); failed {
	case wire.CodeJudgeInvalidOutput:
		return judge, judgeFailure(failed, "Judge returned invalid output", code, err)
	case wire.CodeJudgeInvalidInput:
		return judge, judgeFailure(failed, "Judge rejected its input", code, err)
	default:
		return judge, judgeFailure(failed, "Judge call failed after retries", code, err)
	}
}

// modelCallOptions: one activity attempt per model call, the call's timeout
// per attempt, maxRetries retries of transient codes. Heartbeats carry
// cancellation to a running HTTP call. Model calls go to the model-call
// task queue, whose workers hold the provider's limits (requests per second
// across all workers, calls at once per worker).
func modelCallOptions(ctx workflow.Context, timeout time.Duration, maxRetries int) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:           wire.ModelCallQueue(workflow.GetInfo(ctx).TaskQueueName),
		StartToCloseTimeout: timeout,
		HeartbeatTimeout:    min(timeout, 5*wire.HeartbeatEvery),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        500 * time.Millisecond,
			BackoffCoefficient:     2,
			MaximumAttempts:        int32(maxRetries + 1),
			NonRetryableErrorTypes: codes(wire.CodeClientError, wire.CodeInvalidOutput, wire.CodeInvalidInput, wire.CodeValidationFailed),
		},
	}
}

func summarize(failures []wire.SlotFailure) wire.FailureSummary {
	var s wire.FailureSummary
	for _, f := range failures {
		switch {
		case f.ErrorCode.Transient():
			s.TransientCount++
		case f.ErrorCode == wire.CodeClientError, f.ErrorCode == wire.CodeInvalidInput:
			s.ClientErrorCount++
		case f.ErrorCode == wire.CodeInternalError:
			s.InternalErrorCount++
		case f.ErrorCode == wire.CodeInvalidOutput:
			s.InvalidOutputCount++
		}
	}
	return s
}
