// Package activities holds every call that leaves the workflow: model calls,
// blob reads, ledger and DLQ operations. Workflows stay deterministic and do
// no I/O; retries, timeouts and cancellation come from Temporal.
package activities

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/wire"
)

// Consensus holds the dependencies of the consensus evaluation activities.
// Their inputs and results are wire types; their registered names are
// wire.ActivityVerifyImage, wire.ActivityVisionCall and wire.ActivityJudgeCall.
type Consensus struct {
	Vision provider.Vision
	Judge  provider.Judge
	Blobs  blob.Dir
}

// VerifyImage reads a blob-stored image once and checks its hash and format,
// so a bad reference fails as VALIDATION_FAILED before any model is called.
func (c *Consensus) VerifyImage(ctx context.Context, im wire.Image) (err error) {
	defer internalOnPanic(ctx, &err)
	if _, err := loadImage(ctx, im, c.Blobs); err != nil {
		return imageError(ctx, err, wire.CodeValidationFailed)
	}
	return nil
}

// VisionCall runs one vision call (one attempt; Temporal retries transient codes).
func (c *Consensus) VisionCall(ctx context.Context, in wire.VisionInput) (_ wire.VisionResult, err error) {
	defer internalOnPanic(ctx, &err)
	info := activity.GetInfo(ctx)
	attempt := info.Attempt - 1 // request ids and logs count attempts from 0
	log := activity.GetLogger(ctx)
	slot := strconv.Itoa(in.CallIndex)
	model := in.ModelID
	if model == "" {
		model = "default"
	}
	m := activity.GetMetricsHandler(ctx).WithTags(map[string]string{"callIndex": slot, "modelId": model})

	img, err := loadImage(ctx, in.Image, c.Blobs)
	if err != nil {
		return wire.VisionResult{}, imageError(ctx, err, wire.CodeInvalidInput)
	}

	stop := heartbeatWhile(ctx)
	start := time.Now()
	out, err := c.Vision.Vision(ctx, provider.VisionRequest{
		Image:     img,
		ModelID:   in.ModelID,
		RequestID: fmt.Sprintf("%s_v%d_a%d", in.ItemID, in.CallIndex, attempt),
	})
	stop()
	elapsed := time.Since(start)
	if err == nil {
		err = provider.ValidateVision(out)
	}
	if err != nil {
		if provider.IsCanceled(err) && ctx.Err() != nil {
			log.Info("Vision call cancelled", "evt", "VISION_CALL_CANCELLED", "callIndex", in.CallIndex)
			return wire.VisionResult{}, ctx.Err()
		}
		code := wireCode(provider.CodeOf(err))
		if code == wire.CodeTimeout {
			activity.GetMetricsHandler(ctx).WithTags(map[string]string{"callIndex": slot}).Counter("consensus.vision_call.timeout").Inc(1)
		}
		m.WithTags(map[string]string{"errorCode": string(code), "attempt": strconv.Itoa(int(attempt))}).Counter("consensus.vision_call.failure").Inc(1)
		evt, msg := "VISION_CALL_FAILED", "Vision call failed"
		if code == wire.CodeInvalidOutput {
			evt, msg = "VISION_CALL_INVALID_OUTPUT", "Vision call returned invalid output — permanent failure, not retrying"
		}
		log.Warn(msg, "evt", evt, "callIndex", in.CallIndex, "attempt", attempt, "errorCode", code,
			"error", err.Error(), "durationMs", ms(elapsed))
		return wire.VisionResult{}, modelError(ctx, err)
	}

	m = m.WithTags(map[string]string{"modelId": out.ModelID})
	m.Counter("consensus.vision_call.success").Inc(1)
	m.Timer("consensus.vision_call.duration_ms").Record(elapsed)
	log.Info("Vision call succeeded", "evt", "VISION_CALL_SUCCEEDED", "callIndex", in.CallIndex, "attempt", attempt,
		"modelId", out.ModelID, "value", out.Value, "confidence", out.Confidence, "durationMs", ms(elapsed))
	return wire.VisionResult{
		CallIndex:  in.CallIndex,
		Value:      out.Value,
		Confidence: out.Confidence,
		ModelID:    out.ModelID,
		DurationMs: ms(elapsed),
	}, nil
}

// JudgeCall turns the valuations into a consensus (one attempt per call).
func (c *Consensus) JudgeCall(ctx context.Context, in wire.JudgeInput) (_ wire.JudgeResult, err error) {
	defer internalOnPanic(ctx, &err)
	attempt := activity.GetInfo(ctx).Attempt - 1
	log := activity.GetLogger(ctx)
	m := activity.GetMetricsHandler(ctx)

	valuations := make([]provider.Valuation, len(in.Valuations))
	for i, v := range in.Valuations {
		valuations[i] = provider.Valuation{Value: v.Value, Confidence: v.Confidence}
	}
	if err := provider.ValidateJudgeInput(valuations); err != nil {
		return wire.JudgeResult{}, temporal.NewNonRetryableApplicationError(err.Error(), string(wire.CodeInvalidInput), nil)
	}
	stop := heartbeatWhile(ctx)
	start := time.Now()
	out, err := c.Judge.Judge(ctx, provider.JudgeRequest{
		Valuations: valuations,
		RequestID:  fmt.Sprintf("%s_judge_a%d", in.ItemID, attempt),
	})
	stop()
	elapsed := time.Since(start)
	if err == nil {
		err = provider.ValidateJudge(out)
	}
	if err != nil {
		if provider.IsCanceled(err) && ctx.Err() != nil {
			return wire.JudgeResult{}, ctx.Err()
		}
		code := wireCode(provider.CodeOf(err))
		m.WithTags(map[string]string{"modelId": "unknown", "errorCode": string(code), "attempt": strconv.Itoa(int(attempt))}).
			Counter("consensus.judge.failure").Inc(1)
		if code == wire.CodeInvalidOutput {
			log.Error("Judge returned invalid output — permanent failure", "evt", "JUDGE_INVALID_OUTPUT",
				"attempt", attempt, "error", err.Error(), "durationMs", ms(elapsed))
		} else {
			log.Warn("Judge call failed", "evt", "JUDGE_CALL_FAILED", "attempt", attempt, "errorCode", code,
				"error", err.Error(), "durationMs", ms(elapsed))
		}
		return wire.JudgeResult{}, modelError(ctx, err)
	}
	m = m.WithTags(map[string]string{"modelId": out.ModelID})
	m.Counter("consensus.judge.success").Inc(1)
	m.Timer("consensus.judge.duration_ms").Record(elapsed)
	log.Info("Judge call succeeded", "evt", "JUDGE_CALL_SUCCEEDED", "attempt", attempt, "modelId", out.ModelID,
		"consensusValue", out.Value, "confidence", out.Confidence, "durationMs", ms(elapsed))
	return wire.JudgeResult{ConsensusValue: out.Value, Confidence: out.Confidence, Rationale: out.Rationale, ModelID: out.ModelID}, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
