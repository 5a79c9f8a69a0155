package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{"nil", nil, ""},
		{"provider error", &Error{Code: CodeRateLimited}, CodeRateLimited},
		{"wrapped provider error", fmt.Errorf("activity: %w", &Error{Code: CodeClientError}), CodeClientError},
		{"invalid input", &InvalidInputError{Field: "x", Reason: "y"}, CodeInvalidInput},
		{"deadline", context.DeadlineExceeded, CodeTimeout},
		{"wrapped deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), CodeTimeout},
		{"os deadline", os.ErrDeadlineExceeded, CodeTimeout},
		{"a cancel is an abort: TIMEOUT", context.Canceled, CodeTimeout},
		{"net timeout", &net.OpError{Op: "read", Err: timeoutErr{}}, CodeTimeout},
		{"conn reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, CodeServerError},
		{"conn refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, CodeServerError},
		{"EOF", io.EOF, CodeServerError},
		{"unexpected EOF", io.ErrUnexpectedEOF, CodeServerError},
		{"dns", &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, CodeServerError},
		{"unknown defaults to server error", errors.New("weird"), CodeServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CodeOf(tt.err); got != tt.want {
				t.Errorf("CodeOf(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestCodeTransient(t *testing.T) {
	for c, want := range map[Code]bool{
		CodeTimeout: true, CodeRateLimited: true, CodeServerError: true,
		CodeClientError: false, CodeInvalidOutput: false, CodeInvalidInput: false, "": false,
	} {
		if c.Transient() != want {
			t.Errorf("%q.Transient() = %v", c, !want)
		}
	}
}

func TestErrorString(t *testing.T) {
	cause := io.EOF
	e := &Error{Code: CodeRateLimited, StatusCode: 429, RetryAfter: 2 * time.Second, Message: "vision: Too Many Requests", Err: cause}
	got := e.Error()
	for _, part := range []string{"RATE_LIMITED", "429", "2s", "Too Many Requests", "EOF"} {
		if !strings.Contains(got, part) {
			t.Errorf("%q lacks %q", got, part)
		}
	}
	if !errors.Is(e, io.EOF) {
		t.Error("Unwrap does not reach the cause")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"none", h(), 0},
		{"seconds", h("Retry-After", "3"), 3 * time.Second},
		{"fractional seconds", h("Retry-After", "0.5"), 500 * time.Millisecond},
		{"zero", h("Retry-After", "0"), 0},
		{"negative", h("Retry-After", "-4"), 0},
		{"http date", h("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), 90 * time.Second},
		{"past date", h("Retry-After", now.Add(-time.Minute).Format(http.TimeFormat)), 0},
		{"garbage", h("Retry-After", "later"), 0},
		{"ms only", h("Retry-After-Ms", "250"), 250 * time.Millisecond},
		{"ms beats seconds", h("Retry-After", "9", "Retry-After-Ms", "1200"), 1200 * time.Millisecond},
		{"bad ms falls back to seconds", h("Retry-After", "9", "Retry-After-Ms", "x"), 9 * time.Second},
		{"absurd seconds ignored", h("Retry-After", "1e300"), 0},
		{"at the cap", h("Retry-After", "300"), MaxRetryAfter},
		{"days capped", h("Retry-After", "86400000"), MaxRetryAfter},
		{"ms capped", h("Retry-After-Ms", "999999999"), MaxRetryAfter},
		{"far date capped", h("Retry-After", now.Add(24*365*time.Hour).Format(http.TimeFormat)), MaxRetryAfter},
		// A server cannot park a retry for days: capped at MaxRetryAfter.
		{"a day in seconds capped", h("Retry-After", "86400"), MaxRetryAfter},
		{"date years ahead capped", h("Retry-After", now.AddDate(30, 0, 0).Format(http.TimeFormat)), MaxRetryAfter},
		{"huge ms capped", h("Retry-After-Ms", "99999999999"), MaxRetryAfter},
		{"just under the cap kept", h("Retry-After", "299"), 299 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseRetryAfter(tt.h, now); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRedactedError(t *testing.T) {
	base := fmt.Errorf("proxy said Bearer sk-1: %w", io.EOF)
	r := redactedError{base, "sk-1"}
	if strings.Contains(r.Error(), "sk-1") || !errors.Is(r, io.EOF) {
		t.Errorf("redactedError = %q", r.Error())
	}
	if (redactedError{base, ""}).Error() != base.Error() {
		t.Error("no key should leave the text alone")
	}
}
