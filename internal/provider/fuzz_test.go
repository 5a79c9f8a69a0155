package provider

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
)

// roundTrip serves one canned response to every request, without a socket,
// so the fuzzer spends its time in the response handling.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzOpenAIResponse: whatever an OpenAI-compatible server answers (status,
// Retry-After headers, body), a vision, judge or completion call returns a
// valid output or a typed error (*Error with a known code, or
// *InvalidInputError); never a panic. A server-requested wait is never
// negative nor over MaxRetryAfter, and an accepted output passes the output
// contract.
func FuzzOpenAIResponse(f *testing.F) {
	ok := func(content string) []byte {
		return []byte(`{"model":"m","choices":[{"message":{"content":` + content + `}}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`)
	}
	f.Add(uint8(0), 200, "", "", ok(`"{\"value\":12.5,\"confidence\":0.9}"`))
	f.Add(uint8(1), 200, "", "", ok(`"{\"value\":12.5,\"confidence\":0.9,\"rationale\":\"close\"}"`))
	f.Add(uint8(2), 200, "", "", ok(`"hello"`))
	f.Add(uint8(0), 200, "", "", ok("\"```json\\n{\\\"value\\\":1,\\\"confidence\\\":1}\\n```\""))
	f.Add(uint8(2), 200, "", "", []byte(`{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":-1,"completion_tokens":4,"total_tokens":3}}`))
	f.Add(uint8(0), 429, "86400", "", []byte(`{"error":{"message":"slow down"}}`))
	f.Add(uint8(1), 503, "Wed, 21 Oct 2099 07:28:00 GMT", "1e11", []byte(`upstream down`))
	f.Add(uint8(2), 400, "", "", []byte(`{"error":"bad"}`))
	f.Add(uint8(0), 200, "", "", []byte(`{"choices":[]}`))
	f.Add(uint8(1), 302, "", "", []byte{})
	c, err := NewOpenAI(Config{Kind: KindOpenAI, BaseURL: "http://model.invalid/v1", VisionModel: "vm", APIKey: "sk-fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	png := []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 0}
	f.Fuzz(func(t *testing.T, op uint8, status int, retryAfter, retryAfterMs string, body []byte) {
		if status < 100 || status > 999 {
			status = 200 + status%100 // net/http's own range; keep it a valid status line
			if status < 100 {
				status += 100
			}
		}
		client := *c
		client.client = &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			h := http.Header{}
			if retryAfter != "" {
				h.Set("Retry-After", retryAfter)
			}
			if retryAfterMs != "" {
				h.Set("Retry-After-Ms", retryAfterMs)
			}
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})}
		ctx := context.Background()
		var err error
		switch op % 3 {
		case 0:
			var out VisionOutput
			out, err = client.Vision(ctx, VisionRequest{Image: Image{MediaType: "image/png", Data: png}})
			if err == nil {
				if verr := ValidateVision(out); verr != nil {
					t.Fatalf("accepted an invalid vision output %+v: %v", out, verr)
				}
			}
		case 1:
			var out JudgeOutput
			out, err = client.Judge(ctx, JudgeRequest{Valuations: []Valuation{{Value: 1, Confidence: 0.5}}})
			if err == nil {
				if verr := ValidateJudge(out); verr != nil {
					t.Fatalf("accepted an invalid judge output %+v: %v", out, verr)
				}
			}
		case 2:
			var out CompletionOutput
			out, err = client.Complete(ctx, CompletionRequest{Prompt: "p", PromptTokens: 1})
			if err == nil {
				if verr := ValidateCompletion(out); verr != nil {
					t.Fatalf("accepted an invalid completion %+v: %v", out, verr)
				}
			}
		}
		if err == nil {
			if status < 200 || status > 299 {
				t.Fatalf("status %d accepted", status)
			}
			return
		}
		var pe *Error
		var ie *InvalidInputError
		switch {
		case errors.As(err, &pe):
			switch pe.Code {
			case CodeTimeout, CodeRateLimited, CodeServerError, CodeClientError, CodeInvalidOutput:
			default:
				t.Fatalf("unknown code %q: %v", pe.Code, err)
			}
			if pe.RetryAfter < 0 || pe.RetryAfter > MaxRetryAfter {
				t.Fatalf("retry after %v out of [0, %v]: %v", pe.RetryAfter, MaxRetryAfter, err)
			}
			if bytes.Contains([]byte(err.Error()), []byte("sk-fuzz")) {
				t.Fatalf("API key in error: %v", err)
			}
		case errors.As(err, &ie):
		default:
			t.Fatalf("untyped error %T: %v", err, err)
		}
		if CodeOf(err) == "" {
			t.Fatalf("unclassified error: %v", err)
		}
	})
}
