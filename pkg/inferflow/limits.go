package inferflow

import (
	"fmt"

	"github.com/inferflow/inferflow/workflows"
)

// Default request size limits, checked before anything is stored or started.
const (
	// DefaultMaxImageBytes bounds one consensus image (the blob store's own
	// default bound, which the worker reads with).
	DefaultMaxImageBytes = 20 << 20
	// DefaultMaxPromptBytes bounds a billed prompt: it travels in workflow
	// history, and the workflow refuses more than this anyway.
	DefaultMaxPromptBytes = workflows.MaxPromptBytes
)

// Limits are the client's request size limits; a zero field takes its
// default. Setting names say how a caller changes a limit (the starter puts
// its flags there) and appear in the LimitError; empty names the field here.
type Limits struct {
	MaxImageBytes  int64
	MaxPromptBytes int
	ImageSetting   string
	PromptSetting  string
}

func (l Limits) image() (int64, string) {
	return orDefault(l.MaxImageBytes, DefaultMaxImageBytes), orName(l.ImageSetting, "Limits.MaxImageBytes")
}

func (l Limits) prompt() (int64, string) {
	return orDefault(int64(l.MaxPromptBytes), DefaultMaxPromptBytes), orName(l.PromptSetting, "Limits.MaxPromptBytes")
}

func orDefault(v, d int64) int64 {
	if v > 0 {
		return v
	}
	return d
}

func orName(v, d string) string {
	if v != "" {
		return v
	}
	return d
}

// LimitError is a request field over its size limit. It comes wrapped in a
// *ValidationError (VALIDATION_FAILED): nothing was stored or started.
type LimitError struct {
	Field   string // "image", "prompt", "catalog line 3: image"
	Size    int64  // bytes
	Limit   int64  // bytes
	Setting string // where the limit is set
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s is %d bytes, over the limit of %d bytes (%s)", e.Field, e.Size, e.Limit, e.Setting)
}

// CheckImageSize refuses an image of size bytes over the image limit; a
// caller reading a file checks its size before reading it.
func (l Limits) CheckImageSize(field string, size int64) error {
	limit, setting := l.image()
	if size > limit {
		return &ValidationError{Err: &LimitError{Field: field, Size: size, Limit: limit, Setting: setting}}
	}
	return nil
}

// CheckPromptSize refuses a prompt over the prompt limit.
func (l Limits) CheckPromptSize(prompt string) error {
	limit, setting := l.prompt()
	if n := int64(len(prompt)); n > limit {
		return &ValidationError{Err: &LimitError{Field: "prompt", Size: n, Limit: limit, Setting: setting}}
	}
	return nil
}
