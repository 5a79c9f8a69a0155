package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// Code is a model call code (CONTRACT.md#model-call-codes). Its string form is
// what activities put into Temporal application errors, so it must not change.
type Code string

const (
	CodeTimeout       Code = "TIMEOUT"
	CodeRateLimited   Code = "RATE_LIMITED"
	CodeServerError   Code = "SERVER_ERROR"
	CodeClientError   Code = "CLIENT_ERROR"
	CodeInvalidOutput Code = "INVALID_OUTPUT"
	// CodeInvalidInput is the judge's own code for malformed valuations
	// (judgeErrorCode INVALID_INPUT, CONTRACT.md#judge-input). It is never
	// retried.
	CodeInvalidInput Code = "INVALID_INPUT"
)

// Transient reports whether a retry may succeed. Everything else is a
// contract failure that a retry would only repeat.
func (c Code) Transient() bool {
	switch c {
	case CodeTimeout, CodeRateLimited, CodeServerError:
		return true
	}
	return false
}

func (c Code) String() string { return string(c) }

// Error is a classified model-call failure.
type Error struct {
	Code Code
	// StatusCode is the HTTP status when the failure came from a response, else 0.
	StatusCode int
	// RetryAfter is the server's requested wait (Retry-After / retry-after-ms), 0 if none.
	RetryAfter time.Duration
	// Message is a short human-readable description; it never holds secrets.
	Message string
	// Err is the underlying cause, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("provider: ")
	b.WriteString(string(e.Code))
	if e.StatusCode != 0 || e.RetryAfter > 0 {
		b.WriteString(" (")
		if e.StatusCode != 0 {
			fmt.Fprintf(&b, "status %d", e.StatusCode)
		}
		if e.RetryAfter > 0 {
			if e.StatusCode != 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "retry after %s", e.RetryAfter)
		}
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// InvalidInputError reports input a provider refuses before calling a model:
// malformed judge valuations, an empty or unsupported image, a bad request.
// It is never transient.
type InvalidInputError struct {
	Field  string // e.g. "valuations[1].confidence", "image"
	Reason string
	Err    error // a sentinel such as ErrEmptyImage, if any
}

func (e *InvalidInputError) Error() string {
	if e.Field == "" {
		return "provider: invalid input: " + e.Reason
	}
	return "provider: invalid input: " + e.Field + ": " + e.Reason
}

func (e *InvalidInputError) Unwrap() error { return e.Err }

// CodeOf classifies any error from a provider call (CONTRACT.md#model-providers):
// an *Error keeps its code; timeouts and aborts are TIMEOUT; connection
// failures and anything unknown are SERVER_ERROR (the safe default: assume
// transient). It returns "" for a nil error.
//
// A cancelled context is classified TIMEOUT, like any aborted call; callers
// that need to tell an intentional cancel apart must check
// errors.Is(err, context.Canceled) first.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var pe *Error
	if errors.As(err, &pe) && pe.Code != "" {
		return pe.Code
	}
	var ie *InvalidInputError
	if errors.As(err, &ie) {
		return CodeInvalidInput
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, context.Canceled) {
		return CodeTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return CodeTimeout
	}
	// Listed for the reader; the default below gives the same answer.
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &dns):
		return CodeServerError
	}
	return CodeServerError
}

// RetryAfterOf returns the server-requested delay carried by err, or 0. An
// activity can hand it to Temporal as the next retry delay.
func RetryAfterOf(err error) time.Duration {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.RetryAfter
	}
	return 0
}

// IsCanceled reports whether err is an intentional cancellation (not a
// deadline), which callers must not count as a failure.
func IsCanceled(err error) bool { return errors.Is(err, context.Canceled) }

// canceled wraps a context's error so errors.Is(err, context.Canceled) holds.
func canceled(op string, ctx context.Context) error {
	return fmt.Errorf("provider: %s: %w", op, ctx.Err())
}

// ctxErr turns a done context into the error a provider returns: a wrapped
// ctx.Err() on cancel, a TIMEOUT on deadline. It returns nil while ctx is live.
func ctxErr(op string, ctx context.Context) error {
	switch err := ctx.Err(); {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeTimeout, Message: op + ": deadline exceeded", Err: err}
	default:
		return canceled(op, ctx)
	}
}

func invalidOutput(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidOutput, Message: fmt.Sprintf(format, args...)}
}
