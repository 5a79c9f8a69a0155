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
	switch {
	case strings.TrimSpace(id) == "":
		return fmt.Errorf("missing %s", name)
	case len(id) > MaxIDLength:
		return fmt.Errorf("%s is %d bytes, over the %d byte limit", name, len(id), MaxIDLength)
	case strings.IndexFunc(id, func(r rune) bool { return !unicode.IsPrint(r) || r == unicode.ReplacementChar }) >= 0:
		return fmt.Errorf("%s %q holds non-printable characters", name, id)
	}
	return nil
}
