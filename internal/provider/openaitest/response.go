package openaitest

import (
	"net/http"
	"time"

	"github.com/inferflow/inferflow/internal/provider"
)

// Response scripts the server's answer to one request. The zero Response is
// the default success for the request's kind (see Server); build others
// with the constructors below and refine them with the With* methods, e.g.
//
//	openaitest.OK(1200, 0.9).WithModel("gpt-4o").WithDelay(50*time.Millisecond)
//	openaitest.RateLimited("2")
//	openaitest.Status(503).WithHeader("Retry-After", "1")
//
// A Response is a value; methods return modified copies.
type Response struct {
	status  int         // 0 = 200
	header  http.Header // extra response headers
	delay   time.Duration
	hang    bool // wait until the client goes away or the server closes
	drop    bool // close the connection without answering
	rawBody *string
	rawText *string // choices[0].message.content verbatim
	errMsg  string

	value, confidence *float64
	rationale         *string
	noRationale       bool
	model             string
	text              *string
	usage             *provider.Usage
	noUsage           bool
}

// OK answers a vision or judge request with this value and confidence (a
// judge answer gets a default rationale unless WithRationale is used).
func OK(value, confidence float64) Response {
	return Response{value: &value, confidence: &confidence}
}

// Judged answers a judge request with value, confidence and rationale.
func Judged(value, confidence float64, rationale string) Response {
	return OK(value, confidence).WithRationale(rationale)
}

// Text answers a completion request with this text (usage stays default).
func Text(text string) Response { return Response{text: &text} }

// Status answers with an HTTP error status and an OpenAI-style error body.
func Status(code int) Response { return Response{status: code} }

// StatusMessage is Status with the error body's message set.
func StatusMessage(code int, message string) Response {
	return Response{status: code, errMsg: message}
}

// RateLimited answers 429 with a Retry-After header (delta-seconds such as
// "2" or an HTTP date); "" sends no header.
func RateLimited(retryAfter string) Response {
	r := Status(http.StatusTooManyRequests)
	if retryAfter != "" {
		r = r.WithHeader("Retry-After", retryAfter)
	}
	return r
}

// Delay answers with the default success after d, unless the client gives
// up first (counted by Server.Aborted).
func Delay(d time.Duration) Response { return Response{delay: d} }

// Hang never answers: the request waits until the client aborts (counted
// by Server.Aborted) or the server is closed. Use it for timeout and
// cancellation tests.
func Hang() Response { return Response{hang: true} }

// Drop closes the connection without an answer, as a crashing upstream or
// a reset does; the client sees EOF / connection reset.
func Drop() Response { return Response{drop: true} }

// Malformed answers 200 with message content that is not JSON.
func Malformed() Response { return RawContent(`{"value": 12.5, "confidence": 0.`) }

// RawContent answers 200 with choices[0].message.content set verbatim.
func RawContent(content string) Response { return Response{rawText: &content} }

// RawBody answers with status (0 = 200) and this exact body.
func RawBody(status int, body string) Response { return Response{status: status, rawBody: &body} }

// OutOfRange answers with a confidence of 1.5, which clients must reject.
func OutOfRange() Response { return OK(1000, 1.5) }

// NonFinite answers with a value that overflows float64 (JSON has no NaN).
func NonFinite() Response { return RawContent(`{"value": 1e999, "confidence": 0.5, "rationale": "x"}`) }

// MissingRationale answers a judge request without the rationale field.
func MissingRationale() Response { return Response{noRationale: true} }

// NoUsage answers a completion request without the usage object.
func NoUsage() Response { return Response{noUsage: true} }

// WithDelay waits d before answering (or dropping).
func (r Response) WithDelay(d time.Duration) Response { r.delay = d; return r }

// WithModel sets the response's "model" field (default: the requested model).
func (r Response) WithModel(model string) Response { r.model = model; return r }

// WithRationale sets the judge rationale ("" sends an empty string).
func (r Response) WithRationale(s string) Response { r.rationale = &s; r.noRationale = false; return r }

// WithUsage sets the completion usage object.
func (r Response) WithUsage(u provider.Usage) Response { r.usage = &u; r.noUsage = false; return r }

// WithHeader adds a response header (e.g. "retry-after-ms").
func (r Response) WithHeader(key, value string) Response {
	h := r.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Add(key, value)
	r.header = h
	return r
}

// WithRetryAfter sets the Retry-After header (delta-seconds or HTTP date),
// e.g. Status(503).WithRetryAfter("1").
func (r Response) WithRetryAfter(v string) Response { return r.WithHeader("Retry-After", v) }
