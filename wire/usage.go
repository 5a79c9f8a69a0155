package wire

import "encoding/json"

// Usage is a model call's metered token usage: what billing captures.
//
// Its JSON names are camelCase, as every other wire field. Histories and DLQ
// records written before the names were unified hold snake_case names
// (prompt_tokens, ...); UnmarshalJSON reads both, camelCase first.
type Usage struct {
	PromptTokens     int `json:"promptTokens"`
	CompletionTokens int `json:"completionTokens"`
	TotalTokens      int `json:"totalTokens"`
}

// UnmarshalJSON accepts the camelCase names and the older snake_case ones.
func (u *Usage) UnmarshalJSON(b []byte) error {
	var v struct {
		PromptTokens     *int `json:"promptTokens"`
		CompletionTokens *int `json:"completionTokens"`
		TotalTokens      *int `json:"totalTokens"`
		LegacyPrompt     *int `json:"prompt_tokens"`
		LegacyCompletion *int `json:"completion_tokens"`
		LegacyTotal      *int `json:"total_tokens"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	pick := func(cur, old *int) int {
		switch {
		case cur != nil:
			return *cur
		case old != nil:
			return *old
		}
		return 0
	}
	*u = Usage{
		PromptTokens:     pick(v.PromptTokens, v.LegacyPrompt),
		CompletionTokens: pick(v.CompletionTokens, v.LegacyCompletion),
		TotalTokens:      pick(v.TotalTokens, v.LegacyTotal),
	}
	return nil
}
