package provider

import (
	"math"
	"strings"
	"testing"
)

func TestValidateVisionAndJudge(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		field string // "" = valid
	}{
		{"vision ok", ValidateVision(VisionOutput{Value: 1, Confidence: 0.5, ModelID: "m"}), ""},
		{"vision edges ok", ValidateVision(VisionOutput{Value: -1, Confidence: 1, ModelID: "m"}), ""},
		{"vision NaN", ValidateVision(VisionOutput{Value: math.NaN(), Confidence: 0.5, ModelID: "m"}), "value"},
		{"vision Inf", ValidateVision(VisionOutput{Value: math.Inf(1), Confidence: 0.5, ModelID: "m"}), "value"},
		{"vision conf > 1", ValidateVision(VisionOutput{Value: 1, Confidence: 1.0001, ModelID: "m"}), "confidence"},
		{"vision conf NaN", ValidateVision(VisionOutput{Value: 1, Confidence: math.NaN(), ModelID: "m"}), "confidence"},
		{"vision no model", ValidateVision(VisionOutput{Value: 1, Confidence: 0.5}), "modelId"},
		{"judge ok", ValidateJudge(JudgeOutput{Value: 1, Confidence: 0, Rationale: "r", ModelID: "m"}), ""},
		{"judge no rationale", ValidateJudge(JudgeOutput{Value: 1, Confidence: 0.5, ModelID: "m"}), "rationale"},
		{"judge conf < 0", ValidateJudge(JudgeOutput{Value: 1, Confidence: -0.1, Rationale: "r", ModelID: "m"}), "confidence"},
		{"judge no model", ValidateJudge(JudgeOutput{Value: 1, Confidence: 0.5, Rationale: "r"}), "modelId"},
		{"completion ok", ValidateCompletion(CompletionOutput{ModelID: "m", Usage: Usage{1, 2, 3}}), ""},
		{"completion no usage", ValidateCompletion(CompletionOutput{ModelID: "m"}), "total_tokens"},
		{"completion negative", ValidateCompletion(CompletionOutput{ModelID: "m", Usage: Usage{-1, 2, 3}}), "negative"},
		{"completion does not add up", ValidateCompletion(CompletionOutput{ModelID: "m", Usage: Usage{5, 5, 3}}), "total_tokens"},
		// The ledger refuses a total above prompt + completion (INVALID_USAGE):
		// so does the provider, or the model call would end unbillable.
		{"completion total above the sum", ValidateCompletion(CompletionOutput{ModelID: "m", Usage: Usage{5, 5, 11}}), "total_tokens"},
		{"completion above the ledger's bound", ValidateCompletion(CompletionOutput{ModelID: "m", Usage: Usage{1 << 30, 1, 1<<30 + 1}}), "total_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.field == "" {
				if tt.err != nil {
					t.Fatalf("unexpected error %v", tt.err)
				}
				return
			}
			if CodeOf(tt.err) != CodeInvalidOutput {
				t.Fatalf("err = %v, want INVALID_OUTPUT", tt.err)
			}
			if !strings.Contains(tt.err.Error(), tt.field) {
				t.Errorf("%q does not name %q", tt.err, tt.field)
			}
		})
	}
}
