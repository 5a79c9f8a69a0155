package workflows

import (
	"errors"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/activities"
	"github.com/inferflow/inferflow/internal/provider"
)

// ProgressQuery is the query name that returns a ConsensusProgress.
const ProgressQuery = "progress"

// Slot states reported by the progress query.
const (
	SlotPending   = "pending"
	SlotSucceeded = "succeeded"
	SlotFailed    = "failed"
	SlotCancelled = "cancelled"
)

// ConsensusProgress is what the progress query returns.
type ConsensusProgress struct {
	Stage string         `json:"stage"` // validating, vision, judge, done, failed
	Slots []SlotProgress `json:"slots"`
}

// SlotProgress is one vision call slot.
type SlotProgress struct {
	CallIndex int    `json:"callIndex"`
	ModelID   string `json:"modelId,omitempty"`
	Status    string `json:"status"`
	ErrorCode string `json:"errorCode,omitempty"`
}

// Outcome values of the ConsensusOutcome search attribute (besides error codes).
const (
	OutcomeRunning   = "RUNNING"
	OutcomeSucceeded = "SUCCEEDED"
	OutcomeDegraded  = "DEGRADED"
)

// ConsensusEvaluation values one item from its image: VisionCallCount vision
// calls in parallel, then a judge over a quorum of them (Example 01).
func ConsensusEvaluation(ctx workflow.Context, in ConsensusInput) (*ConsensusResult, error) {
	start := workflow.Now(ctx)
	log := workflow.GetLogger(ctx)
	metrics := workflow.GetMetricsHandler(ctx)
	progress := &ConsensusProgress{Stage: "validating"}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (ConsensusProgress, error) { return *progress, nil }); err != nil {
		return nil, err
	}

	fail := func(code string, msg string, details ConsensusFailure, cause error) error {
		progress.Stage = "failed"
		d := workflow.Now(ctx).Sub(start)
		metrics.WithTags(map[string]string{"errorCode": code}).Counter("consensus.pipeline.failure").Inc(1)
		metrics.Timer("consensus.pipeline.duration_ms").Record(d)
		log.Error("Pipeline failed", "evt", "PIPELINE_FAILED", "errorCode", code, "failureSummary", details.FailureSummary,
			"judgeErrorCode", details.JudgeErrorCode, "durationMs", d.Milliseconds())
		upsertOutcome(ctx, code)
		details.ItemID = in.ItemID
		return temporal.NewApplicationErrorWithOptions(msg, code, temporal.ApplicationErrorOptions{
			NonRetryable: true, Details: []any{details}, Cause: cause,
		})
	}

	// 1. Validate: nothing is called for bad input.
	s, err := in.settings()
	if err != nil {
		return nil, fail(CodeValidationFailed, "Invalid input: "+err.Error(), ConsensusFailure{RetryStrategy: NoRetry}, nil)
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, ItemIDKey.ValueSet(in.ItemID), ConsensusOutcomeKey.ValueSet(OutcomeRunning))
	for i := range VisionCallCount {
		progress.Slots = append(progress.Slots, SlotProgress{CallIndex: i, ModelID: s.modelID(i), Status: SlotPending})
	}
	log.Info("Consensus pipeline started", "evt", "PIPELINE_STARTED", "quorum", s.quorum, "visionCallCount", VisionCallCount,
		"visionTimeoutMs", s.visionTimeout.Milliseconds(), "judgeTimeoutMs", s.judgeTimeout.Milliseconds(),
		"earlyCancel", s.earlyCancel, "visionModelIds", s.modelIDs)

	var a *activities.Consensus
	if in.Image.Ref != nil {
		verifyCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: []string{activities.ErrValidationFailed}},
		})
		if err := workflow.ExecuteActivity(verifyCtx, a.VerifyImage, in.Image).Get(ctx, nil); err != nil {
			return nil, fail(CodeValidationFailed, "Invalid image input: "+rootMessage(err), ConsensusFailure{RetryStrategy: NoRetry}, err)
		}
	}

	// 2. Vision calls in parallel; early cancel once quorum is in.
	progress.Stage = "vision"
	valuations, failures, err := runVisionCalls(ctx, in, s, progress)
	if err != nil {
		return nil, err // the workflow itself was cancelled
	}
	summary := summarize(failures)
	if len(valuations) == 0 || len(valuations) < s.quorum {
		strategy := visionRetryStrategy(summary, len(failures))
		details := ConsensusFailure{RetryStrategy: strategy, FailureSummary: &summary, Failures: failures}
		if len(valuations) == 0 {
			log.Error("All vision calls failed", "evt", "ALL_VISION_CALLS_FAILED", "failureSummary", summary, "failures", failures)
			return nil, fail(CodeVisionAllFailed, "All vision calls failed", details, nil)
		}
		metrics.WithTags(map[string]string{"retryStrategy": string(strategy)}).Counter("consensus.quorum.failed").Inc(1)
		log.Error("Quorum not met", "evt", "QUORUM_NOT_MET", "successCount", len(valuations), "required", s.quorum,
			"retryStrategy", strategy, "failureSummary", summary, "failures", failures)
		return nil, fail(CodeQuorumNotMet, "Quorum not met: "+strconv.Itoa(len(valuations))+"/"+strconv.Itoa(s.quorum)+
			" required vision calls succeeded", details, nil)
	}
	degraded := len(failures) > 0
	if degraded {
		log.Warn("Degraded run — quorum met but some vision calls genuinely failed", "evt", "PIPELINE_DEGRADED",
			"successCount", len(valuations), "failedCount", len(failures))
	}

	// 3. Judge over valuations ordered by call index, as anonymous pairs.
	progress.Stage = "judge"
	slices.SortFunc(valuations, func(x, y activities.VisionResult) int { return x.CallIndex - y.CallIndex })
	judgeIn := activities.JudgeInput{ItemID: in.ItemID, Valuations: make([]provider.Valuation, len(valuations))}
	for i, v := range valuations {
		judgeIn.Valuations[i] = provider.Valuation{Value: v.Value, Confidence: v.Confidence}
	}
	if err := provider.ValidateJudgeInput(judgeIn.Valuations); err != nil {
		return nil, fail(CodeJudgeInvalidInput, "Malformed valuations sent to judge: "+err.Error(),
			ConsensusFailure{RetryStrategy: NoRetry, JudgeErrorCode: "INVALID_INPUT"}, nil)
	}
	judgeCtx := workflow.WithActivityOptions(ctx, modelCallOptions(s.judgeTimeout, MaxJudgeRetries))
	var judge activities.JudgeResult
	if err := workflow.ExecuteActivity(judgeCtx, a.JudgeCall, judgeIn).Get(ctx, &judge); err != nil {
		if errors.Is(ctx.Err(), workflow.ErrCanceled) {
			return nil, err
		}
		code := activityErrorCode(err)
		switch code {
		case "INVALID_OUTPUT":
			return nil, fail(CodeJudgeInvalidOutput, "Judge returned invalid output",
				ConsensusFailure{RetryStrategy: NoRetry, JudgeErrorCode: code}, err)
		case "INVALID_INPUT":
			return nil, fail(CodeJudgeInvalidInput, "Judge rejected its input",
				ConsensusFailure{RetryStrategy: NoRetry, JudgeErrorCode: code}, err)
		}
		return nil, fail(CodeJudgeFailed, "Judge call failed after retries",
			ConsensusFailure{RetryStrategy: judgeRetryStrategy(code), JudgeErrorCode: code}, err)
	}

	// 4. Done.
	progress.Stage = "done"
	d := workflow.Now(ctx).Sub(start)
	metrics.WithTags(map[string]string{"degraded": strconv.FormatBool(degraded)}).Counter("consensus.pipeline.success").Inc(1)
	metrics.Timer("consensus.pipeline.duration_ms").Record(d)
	log.Info("Consensus pipeline completed", "evt", "PIPELINE_COMPLETED", "consensusValue", judge.ConsensusValue,
		"confidence", judge.Confidence, "degraded", degraded, "durationMs", d.Milliseconds())
	outcome := OutcomeSucceeded
	if degraded {
		outcome = OutcomeDegraded
	}
	upsertOutcome(ctx, outcome)
	return &ConsensusResult{
		ItemID:     in.ItemID,
		Valuations: valuations,
		Judge:      judge,
		Degraded:   degraded,
		DurationMs: float64(d.Microseconds()) / 1000,
	}, nil
}

// runVisionCalls starts every slot, collects outcomes as they settle, and
// with early cancel stops the rest once quorum successes are in. Cancelled
// slots are neither successes nor failures.
func runVisionCalls(ctx workflow.Context, in ConsensusInput, s consensusSettings, progress *ConsensusProgress) (
	[]activities.VisionResult, []SlotFailure, error,
) {
	visionCtx, cancelVision := workflow.WithCancel(workflow.WithActivityOptions(ctx, modelCallOptions(s.visionTimeout, MaxVisionRetries)))
	defer cancelVision()
	metrics := workflow.GetMetricsHandler(ctx)

	var (
		a          *activities.Consensus
		valuations []activities.VisionResult
		failures   []SlotFailure
		settled    int
	)
	sel := workflow.NewSelector(ctx)
	for i := range VisionCallCount {
		f := workflow.ExecuteActivity(visionCtx, a.VisionCall, activities.VisionInput{
			ItemID: in.ItemID, CallIndex: i, ModelID: s.modelID(i), Image: in.Image,
		})
		sel.AddFuture(f, func(f workflow.Future) {
			settled++
			var r activities.VisionResult
			err := f.Get(ctx, &r)
			switch {
			case err == nil:
				valuations = append(valuations, r)
				progress.Slots[i].Status = SlotSucceeded
			case temporal.IsCanceledError(err):
				progress.Slots[i].Status = SlotCancelled
			default:
				code := activityErrorCode(err)
				failures = append(failures, SlotFailure{CallIndex: i, ErrorCode: code, Message: rootMessage(err)})
				progress.Slots[i].Status, progress.Slots[i].ErrorCode = SlotFailed, code
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
			for i := range progress.Slots {
				if progress.Slots[i].Status == SlotPending {
					progress.Slots[i].Status = SlotCancelled
					metrics.WithTags(map[string]string{"callIndex": strconv.Itoa(i)}).Counter("consensus.vision_call.cancelled").Inc(1)
				}
			}
			workflow.GetLogger(ctx).Info("Quorum met — cancelling remaining vision calls", "evt", "VISION_EARLY_CANCEL", "quorum", s.quorum)
			break
		}
	}
	slices.SortFunc(failures, func(x, y SlotFailure) int { return x.CallIndex - y.CallIndex })
	return valuations, failures, nil
}

// modelCallOptions: one activity attempt per model call, the seed's timeout
// per attempt, MaxRetries retries of transient codes. Heartbeats carry
// cancellation to a running HTTP call.
func modelCallOptions(timeout time.Duration, maxRetries int) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		HeartbeatTimeout:    min(timeout, 5*activities.HeartbeatEvery),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        500 * time.Millisecond,
			BackoffCoefficient:     2,
			MaximumAttempts:        int32(maxRetries + 1),
			NonRetryableErrorTypes: []string{"CLIENT_ERROR", "INVALID_OUTPUT", "INVALID_INPUT", activities.ErrValidationFailed},
		},
	}
}

func (s consensusSettings) modelID(i int) string {
	if s.modelIDs == nil {
		return ""
	}
	return s.modelIDs[i]
}

func summarize(failures []SlotFailure) FailureSummary {
	var s FailureSummary
	for _, f := range failures {
		switch {
		case isTransient(f.ErrorCode):
			s.TransientCount++
		case f.ErrorCode == "CLIENT_ERROR":
			s.ClientErrorCount++
		case f.ErrorCode == "INVALID_OUTPUT":
			s.InvalidOutputCount++
		}
	}
	return s
}

// activityErrorCode reads the seed's code from an activity failure: the
// application error's type, TIMEOUT for a Temporal timeout (start-to-close or
// heartbeat), SERVER_ERROR for anything else (the seed's safe default).
func activityErrorCode(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() != "" {
		return appErr.Type()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return "TIMEOUT"
	}
	return "SERVER_ERROR"
}

// rootMessage is the innermost error message, without the activity wrapper
// or the SDK's "(type: ..., retryable: ...)" suffix.
func rootMessage(err error) string {
	msg := ""
	for e := err; e != nil; e = errors.Unwrap(e) {
		if appErr, ok := e.(*temporal.ApplicationError); ok {
			msg = appErr.Message()
		} else {
			msg = e.Error()
		}
	}
	return msg
}

func upsertOutcome(ctx workflow.Context, outcome string) {
	// Best effort: a search attribute is for finding runs, never for control.
	_ = workflow.UpsertTypedSearchAttributes(ctx, ConsensusOutcomeKey.ValueSet(outcome))
}
