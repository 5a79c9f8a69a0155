package provider

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// statusError maps a non-2xx response: 429 → RATE_LIMITED, 5xx →
// SERVER_ERROR, other 4xx → CLIENT_ERROR, and anything else unexpected →
// SERVER_ERROR (CONTRACT.md#model-call-codes).
func (c *OpenAI) statusError(op string, resp *http.Response, body []byte) error {
	code := CodeServerError
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		code = CodeRateLimited
	case s >= 500:
		code = CodeServerError
	case s >= 400:
		code = CodeClientError
	}
	msg := op + ": " + http.StatusText(resp.StatusCode)
	if detail := errorDetail(body); detail != "" {
		msg += ": " + c.redact(detail)
	}
	return &Error{Code: code, StatusCode: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header, time.Now()), Message: msg}
}

// errorDetail extracts an OpenAI-style {"error":{"message":...}} or a short
// plain-text body, truncated: enough to debug, not a dump.
func errorDetail(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	detail := ""
	if json.Unmarshal(body, &e) == nil && len(e.Error) > 0 {
		var obj struct {
			Message string `json:"message"`
		}
		var s string
		if json.Unmarshal(e.Error, &obj) == nil && obj.Message != "" {
			detail = obj.Message
		} else if json.Unmarshal(e.Error, &s) == nil {
			detail = s
		}
	}
	if detail == "" {
		detail = strings.TrimSpace(string(body))
	}
	detail = strings.Join(strings.Fields(detail), " ")
	return truncateRunes(detail, 300)
}

func (c *OpenAI) redact(s string) string {
	if c.apiKey == "" {
		return s
	}
	return strings.ReplaceAll(s, c.apiKey, "[REDACTED]")
}

// redactedError hides the API key in a wrapped error's text while keeping
// errors.Is / errors.As working through Unwrap.
type redactedError struct {
	err error
	key string
}

func (r redactedError) Error() string {
	if r.key == "" {
		return r.err.Error()
	}
	return strings.ReplaceAll(r.err.Error(), r.key, "[REDACTED]")
}

func (r redactedError) Unwrap() error { return r.err }

// MaxRetryAfter caps a server's requested wait: a misconfigured or hostile
// server asking for days (an HTTP date years ahead, retry-after-ms 1e11)
// would otherwise hold an activity retry, and the workflow behind it, that
// long. Past the cap the retry policy's own backoff is as good as the hint.
const MaxRetryAfter = 5 * time.Minute

// parseRetryAfter reads retry-after-ms (OpenAI's precise form) or
// Retry-After in delta-seconds or HTTP-date form, capped at MaxRetryAfter.
// Unparsable or past values give 0, which leaves the delay to the retry
// policy.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	return min(parseRetryAfterUncapped(h, now), MaxRetryAfter)
}

func parseRetryAfterUncapped(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && !math.IsInf(ms, 0) && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs > 0 && !math.IsInf(secs, 0) && secs < 1e9 {
			return time.Duration(secs * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
