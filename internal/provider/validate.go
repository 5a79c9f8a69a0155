package provider

import (
	"fmt"
	"math"
	"strings"

	"github.com/inferflow/inferflow/internal/tokenusage"
)

// These are the model output contract (CONTRACT.md#model-output-contract). A
// model that breaks it fails with INVALID_OUTPUT, never retried.

// ValidateVision checks a vision result.
func ValidateVision(o VisionOutput) error {
	if err := checkValue("vision", o.Value); err != nil {
		return err
	}
	if err := checkConfidence("vision", o.Confidence); err != nil {
		return err
	}
	if strings.TrimSpace(o.ModelID) == "" {
		return invalidOutput("vision modelId must not be empty")
	}
	return nil
}

// ValidateJudge checks a judge result.
func ValidateJudge(o JudgeOutput) error {
	if err := checkValue("judge", o.Value); err != nil {
		return err
	}
	if err := checkConfidence("judge", o.Confidence); err != nil {
		return err
	}
	if strings.TrimSpace(o.Rationale) == "" {
		return invalidOutput("judge rationale must not be empty")
	}
	if strings.TrimSpace(o.ModelID) == "" {
		return invalidOutput("judge modelId must not be empty")
	}
	return nil
}

// ValidateCompletion checks the metered usage billing will capture: present
// (total > 0) and billable by the ledger's own rule (tokenusage.Check: no
// negative count, total exactly prompt + completion), so the provider never
// accepts a usage the ledger then refuses.
func ValidateCompletion(o CompletionOutput) error {
	u := o.Usage
	if err := tokenusage.Check(u.PromptTokens, u.CompletionTokens, u.TotalTokens); err != nil {
		return invalidOutput("usage {prompt_tokens %d, completion_tokens %d, total_tokens %d}: %v",
			u.PromptTokens, u.CompletionTokens, u.TotalTokens, err)
	}
	switch {
	case u.TotalTokens == 0:
		return invalidOutput("usage.total_tokens must be > 0")
	case strings.TrimSpace(o.ModelID) == "":
		return invalidOutput("completion modelId must not be empty")
	}
	return nil
}

// ValidateJudgeInput checks valuations before they reach a judge
// (CONTRACT.md#judge-input). A failure is the caller's bug, so it is an
// *InvalidInputError (code INVALID_INPUT), distinct from INVALID_OUTPUT.
func ValidateJudgeInput(vs []Valuation) error {
	if len(vs) == 0 {
		return &InvalidInputError{Field: "valuations", Reason: "at least one valuation is required"}
	}
	for i, v := range vs {
		if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
			return &InvalidInputError{Field: fmt.Sprintf("valuations[%d].value", i), Reason: "must be finite"}
		}
		if !(v.Confidence >= 0 && v.Confidence <= 1) { // also catches NaN
			return &InvalidInputError{Field: fmt.Sprintf("valuations[%d].confidence", i), Reason: "must be in [0, 1]"}
		}
	}
	return nil
}

func checkValue(who string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return invalidOutput("%s value must be finite", who)
	}
	return nil
}

func checkConfidence(who string, c float64) error {
	if !(c >= 0 && c <= 1) {
		return invalidOutput("%s confidence must be in [0, 1], got %v", who, c)
	}
	return nil
}
