package provider

import "context"

// VisionRequest asks a vision model to value one item image.
type VisionRequest struct {
	Image Image
	// ModelID selects the model; "" means the configured default. Each of the
	// three call slots may name its own model (CONTRACT.md#consensus-options).
	ModelID string
	// RequestID correlates logs and server-side traces
	// (<itemId>_v<slot>_a<attempt>, CONTRACT.md#consensus-retries); it is not
	// an idempotency key.
	RequestID string
}

// VisionOutput is a vision model's valuation, before the output contract is
// checked (CONTRACT.md#model-output-contract).
type VisionOutput struct {
	Value      float64
	Confidence float64
	ModelID    string
}

// Valuation is one anonymous judge input: the judge gets ordered
// {value, confidence} pairs without call indexes or model ids
// (CONTRACT.md#judge-input).
type Valuation struct {
	Value      float64 `json:"value"`
	Confidence float64 `json:"confidence"`
}

// JudgeRequest asks a judge to turn valuations into a consensus.
type JudgeRequest struct {
	Valuations []Valuation
	RequestID  string
}

// JudgeOutput is the judge's consensus, before the output contract is checked
// (CONTRACT.md#model-output-contract).
type JudgeOutput struct {
	Value      float64
	Confidence float64
	// Rationale is a short structured justification, not chain-of-thought.
	Rationale string
	ModelID   string
}

// CompletionRequest is one billed inference call.
type CompletionRequest struct {
	ModelID string // "" means the configured default
	Prompt  string
	// PromptTokens is the caller's estimate used for reservation; actual
	// billing uses the returned Usage.
	PromptTokens int
	// MaxTokens caps completion tokens; 0 leaves the provider's default.
	MaxTokens int
	RequestID string
}

// Usage is what billing captures.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// CompletionOutput is a completion and its metered usage.
type CompletionOutput struct {
	Text    string
	ModelID string
	Usage   Usage
}

// Vision values an item image. Errors are *Error (see CodeOf), an
// *InvalidInputError for a bad image, or a wrapped ctx.Err() on cancel.
type Vision interface {
	Vision(ctx context.Context, req VisionRequest) (VisionOutput, error)
}

// Judge produces a consensus from valuations; same error contract as Vision.
type Judge interface {
	Judge(ctx context.Context, req JudgeRequest) (JudgeOutput, error)
}

// Completer runs a billed completion; same error contract as Vision.
type Completer interface {
	Complete(ctx context.Context, req CompletionRequest) (CompletionOutput, error)
}

// Set is what the worker wires into its activities.
type Set struct {
	Vision    Vision
	Judge     Judge
	Completer Completer
}
