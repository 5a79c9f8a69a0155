package provider

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"unicode/utf8"
)

// Offline is the built-in provider: deterministic, no network. Its vision
// valuation is derived from the image content (see imageFeatures), so
// different images get different values and the same image always gets the
// same value; each model id shifts the result slightly, so three slots with
// different model ids disagree a little, as real models do. Its completer
// meters usage from the prompt. Pair it with StatisticalJudge.
type Offline struct {
	visionModel     string
	completionModel string
	features        *featureCache
}

// NewOffline builds an offline provider; empty model ids in cfg fall back to
// the DefaultOffline* ids.
func NewOffline(cfg Config) *Offline {
	o := &Offline{
		visionModel:     cfg.VisionModel,
		completionModel: cfg.completionModel(),
		features:        newFeatureCache(512),
	}
	if o.visionModel == "" {
		o.visionModel = DefaultOfflineVisionModel
	}
	if o.completionModel == "" {
		o.completionModel = DefaultOfflineCompletionModel
	}
	return o
}

// Offline valuation range, in currency units.
const (
	offlineMinValue = 1.0
	offlineMaxValue = 10000.0
)

// Vision implements Vision.
func (o *Offline) Vision(ctx context.Context, req VisionRequest) (VisionOutput, error) {
	if err := ctxErr("vision", ctx); err != nil {
		return VisionOutput{}, err
	}
	mt, err := req.Image.resolvedMediaType()
	if err != nil {
		return VisionOutput{}, err
	}
	model := req.ModelID
	if model == "" {
		model = o.visionModel
	}
	f := o.features.get(req.Image.Data, mt)

	// Busy, colourful, contrasty images are "worth more": an arbitrary but
	// content-driven score, spread over four decades on a log scale. The
	// digest term separates images whose statistics happen to coincide.
	score := 0.45*f.edge + 0.35*f.colour + 0.20*f.contrast
	score = clamp01(0.9*score + 0.1*unitFloat(f.digest[0:8]))
	value := offlineMinValue * math.Pow(offlineMaxValue/offlineMinValue, score)

	// Per-model variation: ±3% on the value, ±0.03 on the confidence.
	mv := unitFloat(hashString(model))
	value *= 1 + (mv-0.5)*0.06
	value = math.Min(offlineMaxValue, math.Max(offlineMinValue, value))

	// Confidence follows how much the image shows: contrast and a
	// well-exposed mean help; undecoded images (byte statistics) are less sure.
	conf := 0.45 + 0.25*f.contrast + 0.2*(1-2*math.Abs(f.lum-0.5))
	if !f.decoded {
		conf *= 0.85
	}
	conf += (unitFloat(hashString(model+"/c")) - 0.5) * 0.06
	conf = math.Min(0.99, math.Max(0.05, conf))

	return VisionOutput{Value: math.Round(value*100) / 100, Confidence: round4(conf), ModelID: model}, nil
}

// Complete implements Completer with deterministic, prompt-derived usage:
// prompt tokens ≈ len/4 (at least the caller's PromptTokens), completion
// tokens derived from the prompt and request id, never above MaxTokens, so a
// retried job (same request id) meters the same usage.
func (o *Offline) Complete(ctx context.Context, req CompletionRequest) (CompletionOutput, error) {
	if err := ctxErr("complete", ctx); err != nil {
		return CompletionOutput{}, err
	}
	if err := validateCompletionRequest(req); err != nil {
		return CompletionOutput{}, err
	}
	model := req.ModelID
	if model == "" {
		model = o.completionModel
	}
	prompt := max(req.PromptTokens, (len(req.Prompt)+3)/4, 1)
	limit := 256
	if req.MaxTokens > 0 {
		limit = min(limit, req.MaxTokens)
	}
	h := fnv.New64a()
	h.Write([]byte(model))
	h.Write([]byte{0})
	h.Write([]byte(req.Prompt))
	h.Write([]byte{0})
	h.Write([]byte(req.RequestID))
	completion := 1 + int(h.Sum64()%uint64(limit))

	text := fmt.Sprintf("offline completion by %s: %d prompt tokens", model, prompt)
	if req.Prompt != "" {
		text += fmt.Sprintf("; prompt began %q", truncateRunes(req.Prompt, 48))
	}
	return CompletionOutput{
		Text:    text,
		ModelID: model,
		Usage:   Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion},
	}, nil
}

func validateCompletionRequest(req CompletionRequest) error {
	switch {
	case req.PromptTokens < 0:
		return &InvalidInputError{Field: "promptTokens", Reason: "must not be negative"}
	case req.MaxTokens < 0:
		return &InvalidInputError{Field: "maxTokens", Reason: "must not be negative"}
	case req.Prompt == "" && req.PromptTokens == 0:
		return &InvalidInputError{Field: "prompt", Reason: "a prompt or a promptTokens estimate is required"}
	}
	return nil
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// unitFloat maps 8 bytes to [0, 1).
func unitFloat(b []byte) float64 {
	return float64(binary.BigEndian.Uint64(b)>>11) / (1 << 53)
}

// hashString is FNV-1a followed by a splitmix64 finaliser: FNV alone leaves
// the high bits nearly unchanged for ids differing in their last byte
// ("model-a", "model-b"), and unitFloat reads the high bits.
func hashString(s string) []byte {
	h := fnv.New64a()
	h.Write([]byte(s))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return binary.BigEndian.AppendUint64(nil, x)
}
