package wire

import (
	"fmt"
	"strings"
	"unicode"
)

// MaxIDLength bounds item, job, user and model ids.
const MaxIDLength = 200

// ValidateID checks an item or job id: non-blank, bounded, printable.
func ValidateID(name, id string) error {
	if reason := IDProblem(id); reason != "" {
		return &FieldError{Field: name, Reason: reason}
	}
	return nil
}

// IDProblem says what is wrong with an id, or "" when nothing is.
func IDProblem(id string) string {
	switch {
	case strings.TrimSpace(id) == "":
		return "must not be blank"
	case len(id) > MaxIDLength:
		return fmt.Sprintf("is %d bytes, over the %d byte limit", len(id), MaxIDLength)
	case strings.IndexFunc(id, func(r rune) bool { return !unicode.IsPrint(r) || r == unicode.ReplacementChar }) >= 0:
		return fmt.Sprintf("%q holds non-printable characters", id)
	}
	return ""
}
