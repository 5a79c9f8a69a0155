// Package tokenusage is the one rule a model's metered token usage must
// follow before billing captures it. The provider applies it to a model's
// answer (INVALID_OUTPUT otherwise) and the ledger to a capture
// (INVALID_USAGE otherwise), so every usage the provider accepts the ledger
// accepts too (CONTRACT.md#charges-and-rounding).
package tokenusage

import "fmt"

// MaxTokens bounds each token count: tokens times a price per 1K stays far
// inside int64, and prompt + completion fits a 32-bit integer.
const MaxTokens = 1 << 29

// Check reports whether a usage is billable: no count negative or above
// MaxTokens, and total exactly prompt + completion.
func Check(prompt, completion, total int) error {
	switch {
	case prompt < 0 || completion < 0 || total < 0:
		return fmt.Errorf("negative token count (prompt %d, completion %d, total %d)", prompt, completion, total)
	case prompt > MaxTokens || completion > MaxTokens:
		return fmt.Errorf("token count above %d (prompt %d, completion %d)", MaxTokens, prompt, completion)
	case total != prompt+completion:
		return fmt.Errorf("total tokens %d != prompt tokens %d + completion tokens %d", total, prompt, completion)
	}
	return nil
}
