package workflows

import (
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/wire"
)

// consensusRecorder is what an evaluation shows its observers: the progress
// query, metrics, log events and the ItemId / ConsensusOutcome search
// attributes. It never decides anything.
type consensusRecorder struct {
	ctx      workflow.Context
	start    time.Time
	log      log.Logger
	metrics  client.MetricsHandler
	progress wire.ConsensusProgress
}

// newConsensusRecorder answers the progress query from now on.
func newConsensusRecorder(ctx workflow.Context) (*consensusRecorder, error) {
	r := &consensusRecorder{
		ctx:      ctx,
		start:    workflow.Now(ctx),
		log:      workflow.GetLogger(ctx),
		metrics:  workflow.GetMetricsHandler(ctx),
		progress: wire.ConsensusProgress{Stage: wire.StageValidating},
	}
	err := workflow.SetQueryHandler(ctx, wire.QueryProgress, func() (wire.ConsensusProgress, error) { return r.progress, nil })
	return r, err
}

func (r *consensusRecorder) stage(s wire.Stage) { r.progress.Stage = s }

// started: the input is valid; every slot is pending.
func (r *consensusRecorder) started(itemID string, s consensusSettings) {
	_ = workflow.UpsertTypedSearchAttributes(r.ctx, ItemIDKey.ValueSet(itemID), ConsensusOutcomeKey.ValueSet(wire.OutcomeRunning))
	for i := range VisionCallCount {
		r.progress.Slots = append(r.progress.Slots, wire.SlotProgress{CallIndex: i, ModelID: s.modelID(i), Status: wire.SlotPending})
	}
	r.log.Info("Consensus pipeline started", "evt", "PIPELINE_STARTED", "quorum", s.quorum, "visionCallCount", VisionCallCount,
		"visionTimeoutMs", s.visionTimeout.Milliseconds(), "judgeTimeoutMs", s.judgeTimeout.Milliseconds(),
		"earlyCancel", s.earlyCancel, "visionModelIds", s.modelIDs)
}

func (r *consensusRecorder) slotSettled(i int, status wire.SlotStatus, code wire.Code) {
	r.progress.Slots[i].Status, r.progress.Slots[i].ErrorCode = status, code
}

// earlyCancelled: quorum is in, the pending slots are cancelled.
func (r *consensusRecorder) earlyCancelled(quorum int) {
	for i := range r.progress.Slots {
		if r.progress.Slots[i].Status == wire.SlotPending {
			r.progress.Slots[i].Status = wire.SlotCancelled
			r.metrics.WithTags(map[string]string{"callIndex": strconv.Itoa(i)}).Counter("consensus.vision_call.cancelled").Inc(1)
		}
	}
	r.log.Info("Quorum met — cancelling remaining vision calls", "evt", "VISION_EARLY_CANCEL", "quorum", quorum)
}

func (r *consensusRecorder) quorumMet(succeeded int, failures []wire.SlotFailure) {
	if len(failures) > 0 {
		r.log.Warn("Degraded run — quorum met but some vision calls genuinely failed", "evt", "PIPELINE_DEGRADED",
			"successCount", succeeded, "failedCount", len(failures))
	}
}

func (r *consensusRecorder) allVisionFailed(summary wire.FailureSummary, failures []wire.SlotFailure) {
	r.log.Error("All vision calls failed", "evt", "ALL_VISION_CALLS_FAILED", "failureSummary", summary, "failures", failures)
}

func (r *consensusRecorder) quorumNotMet(succeeded, quorum int, strategy wire.RetryStrategy, summary wire.FailureSummary, failures []wire.SlotFailure) {
	r.metrics.WithTags(map[string]string{"retryStrategy": string(strategy)}).Counter("consensus.quorum.failed").Inc(1)
	r.log.Error("Quorum not met", "evt", "QUORUM_NOT_MET", "successCount", succeeded, "required", quorum,
		"retryStrategy", strategy, "failureSummary", summary, "failures", failures)
}

// failed: the run ends with code.
func (r *consensusRecorder) failed(code wire.Code, details wire.ConsensusFailure) {
	r.progress.Stage = wire.StageFailed
	d := workflow.Now(r.ctx).Sub(r.start)
	r.metrics.WithTags(map[string]string{"errorCode": string(code)}).Counter("consensus.pipeline.failure").Inc(1)
	r.metrics.Timer("consensus.pipeline.duration_ms").Record(d)
	r.log.Error("Pipeline failed", "evt", "PIPELINE_FAILED", "errorCode", code, "failureSummary", details.FailureSummary,
		"judgeErrorCode", details.JudgeErrorCode, "durationMs", d.Milliseconds())
	r.outcome(string(code))
}

// completed: the judge answered; it returns the run's duration.
func (r *consensusRecorder) completed(judge wire.JudgeResult, degraded bool) time.Duration {
	r.progress.Stage = wire.StageDone
	d := workflow.Now(r.ctx).Sub(r.start)
	r.metrics.WithTags(map[string]string{"degraded": strconv.FormatBool(degraded)}).Counter("consensus.pipeline.success").Inc(1)
	r.metrics.Timer("consensus.pipeline.duration_ms").Record(d)
	r.log.Info("Consensus pipeline completed", "evt", "PIPELINE_COMPLETED", "consensusValue", judge.ConsensusValue,
		"confidence", judge.Confidence, "degraded", degraded, "durationMs", d.Milliseconds())
	if degraded {
		r.outcome(wire.OutcomeDegraded)
	} else {
		r.outcome(wire.OutcomeSucceeded)
	}
	return d
}

func (r *consensusRecorder) outcome(outcome string) {
	// Best effort: a search attribute is for finding runs, never for control.
	_ = workflow.UpsertTypedSearchAttributes(r.ctx, ConsensusOutcomeKey.ValueSet(outcome))
}
