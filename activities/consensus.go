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

	"github.com/inferflow/inferflow/internal/blob"
	"github.com/inferflow/inferflow/internal/provider"
)

// Consensus holds the dependencies of the consensus evaluation activities.
type Consensus struct {
	Vision provider.Vision
	Judge  provider.Judge
	Blobs  blob.Dir
}

// VisionInput is one vision call slot.
type VisionInput struct {
	ItemID    string `json:"itemId"`
	CallIndex int    `json:"callIndex"`
	// ModelID is the slot's model; "" means the provider's default.
	ModelID string `json:"modelId,omitempty"`
	Image   Image  `json:"image"`
}

// VisionResult is one successful valuation (the seed's VisionResult).
type VisionResult struct {
	CallIndex  int     `json:"callIndex"`
	Value      float64 `json:"value"`
	Confidence float64 `json:"confidence"`
	ModelID    string  `json:"modelId"`
	DurationMs float64 `json:"durationMs"`
}

// JudgeInput is what the judge sees: anonymous valuations ordered by call index.
type JudgeInput struct {
	ItemID     string               `json:"itemId"`
	Valuations []provider.Valuation `json:"valuations"`
}

// JudgeResult is the consensus (the seed's JudgeResult).
type JudgeResult struct {
	ConsensusValue float64 `json:"consensusValue"`
	Confidence     float64 `json:"confidence"`
	Rationale      string  `json:"rationale"`
	ModelID        string  `json:"modelId"`
}

// VerifyImage reads a blob-stored image once and checks its hash and format,
// so a bad reference fails as VALIDATION_FAILED before any model is called.
func (c *Consensus) VerifyImage(ctx context.Context, im Image) error {
	if _, err := im.load(ctx, c.Blobs); err != nil {
		return imageError(err)
	}
	return nil
}

// VisionCall runs one vision call (one attempt; Temporal retries transient codes).
func (c *Consensus) VisionCall(ctx context.Context, in VisionInput) (VisionResult, error) {
	info := activity.GetInfo(ctx)
	attempt := info.Attempt - 1 // the seed counts attempts from 0
	log := activity.GetLogger(ctx)
	slot := strconv.Itoa(in.CallIndex)
	model := in.ModelID
	if model == "" {
		model = "default"
	}
	m := activity.GetMetricsHandler(ctx).WithTags(map[string]string{"callIndex": slot, "modelId": model})

	img, err := in.Image.load(ctx, c.Blobs)
	if err != nil {
		return VisionResult{}, imageError(err)
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
			return VisionResult{}, ctx.Err()
		}
		code := provider.CodeOf(err)
		if code == provider.CodeTimeout {
			activity.GetMetricsHandler(ctx).WithTags(map[string]string{"callIndex": slot}).Counter("consensus.vision_call.timeout").Inc(1)
		}
		m.WithTags(map[string]string{"errorCode": string(code), "attempt": strconv.Itoa(int(attempt))}).Counter("consensus.vision_call.failure").Inc(1)
		evt, msg := "VISION_CALL_FAILED", "Vision call failed"
		if code == provider.CodeInvalidOutput {
			evt, msg = "VISION_CALL_INVALID_OUTPUT", "Vision call returned invalid output — permanent failure, not retrying"
		}
		log.Warn(msg, "evt", evt, "callIndex", in.CallIndex, "attempt", attempt, "errorCode", code,
			"error", err.Error(), "durationMs", ms(elapsed))
		return VisionResult{}, modelError(ctx, err)
	}

	m = m.WithTags(map[string]string{"modelId": out.ModelID})
	m.Counter("consensus.vision_call.success").Inc(1)
	m.Timer("consensus.vision_call.duration_ms").Record(elapsed)
	log.Info("Vision call succeeded", "evt", "VISION_CALL_SUCCEEDED", "callIndex", in.CallIndex, "attempt", attempt,
		"modelId", out.ModelID, "value", out.Value, "confidence", out.Confidence, "durationMs", ms(elapsed))
	return VisionResult{
		CallIndex:  in.CallIndex,
		Value:      out.Value,
		Confidence: out.Confidence,
		ModelID:    out.ModelID,
		DurationMs: ms(elapsed),
	}, nil
}

// JudgeCall turns the valuations into a consensus (one attempt per call).
func (c *Consensus) JudgeCall(ctx context.Context, in JudgeInput) (JudgeResult, error) {
	attempt := activity.GetInfo(ctx).Attempt - 1
	log := activity.GetLogger(ctx)
	m := activity.GetMetricsHandler(ctx)

	if err := provider.ValidateJudgeInput(in.Valuations); err != nil {
		return JudgeResult{}, temporal.NewNonRetryableApplicationError(err.Error(), string(provider.CodeInvalidInput), err)
	}
	stop := heartbeatWhile(ctx)
	start := time.Now()
	out, err := c.Judge.Judge(ctx, provider.JudgeRequest{
		Valuations: in.Valuations,
		RequestID:  fmt.Sprintf("%s_judge_a%d", in.ItemID, attempt),
	})
	stop()
	elapsed := time.Since(start)
	if err == nil {
		err = provider.ValidateJudge(out)
	}
	if err != nil {
		if provider.IsCanceled(err) && ctx.Err() != nil {
			return JudgeResult{}, ctx.Err()
		}
		code := provider.CodeOf(err)
		m.WithTags(map[string]string{"modelId": "unknown", "errorCode": string(code), "attempt": strconv.Itoa(int(attempt))}).
			Counter("consensus.judge.failure").Inc(1)
		if code == provider.CodeInvalidOutput {
			log.Error("Judge returned invalid output — permanent failure", "evt", "JUDGE_INVALID_OUTPUT",
				"attempt", attempt, "error", err.Error(), "durationMs", ms(elapsed))
		} else {
			log.Warn("Judge call failed", "evt", "JUDGE_CALL_FAILED", "attempt", attempt, "errorCode", code,
				"error", err.Error(), "durationMs", ms(elapsed))
		}
		return JudgeResult{}, modelError(ctx, err)
	}
	m = m.WithTags(map[string]string{"modelId": out.ModelID})
	m.Counter("consensus.judge.success").Inc(1)
	m.Timer("consensus.judge.duration_ms").Record(elapsed)
	log.Info("Judge call succeeded", "evt", "JUDGE_CALL_SUCCEEDED", "attempt", attempt, "modelId", out.ModelID,
		"consensusValue", out.Value, "confidence", out.Confidence, "durationMs", ms(elapsed))
	return JudgeResult{ConsensusValue: out.Value, Confidence: out.Confidence, Rationale: out.Rationale, ModelID: out.ModelID}, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
