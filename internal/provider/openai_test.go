package provider_test

import (
	"context"
	"encoding/base64"
	"errors"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
)

const testKey = "sk-test-SECRET-4242"

func setup(t *testing.T) (*openaitest.Server, *provider.OpenAI) {
	t.Helper()
	srv := openaitest.New()
	t.Cleanup(srv.Close)
	srv.RequireAPIKey(testKey)
	cfg := srv.Config()
	cfg.HTTPTimeout = 5 * time.Second
	c, err := provider.NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func pngImage(t *testing.T) provider.Image {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "checker.png"))
	if err != nil {
		t.Fatal(err)
	}
	return provider.Image{MediaType: provider.MediaTypePNG, Data: b}
}

func judgeInput() []provider.Valuation {
	return []provider.Valuation{{Value: 100, Confidence: 0.8}, {Value: 110, Confidence: 0.7}, {Value: 105, Confidence: 0.9}}
}

// call runs one request of the given kind and returns its error.
func call(ctx context.Context, t *testing.T, c *provider.OpenAI, kind openaitest.Kind) error {
	t.Helper()
	var err error
	switch kind {
	case openaitest.KindVision:
		_, err = c.Vision(ctx, provider.VisionRequest{Image: pngImage(t), RequestID: "item1_v0_a0"})
	case openaitest.KindJudge:
		_, err = c.Judge(ctx, provider.JudgeRequest{Valuations: judgeInput(), RequestID: "item1_judge_a0"})
	case openaitest.KindCompletion:
		_, err = c.Complete(ctx, provider.CompletionRequest{Prompt: "hello", MaxTokens: 50, RequestID: "job1"})
	}
	return err
}

var allKinds = []openaitest.Kind{openaitest.KindVision, openaitest.KindJudge, openaitest.KindCompletion}

func TestOpenAIStatusMapping(t *testing.T) {
	httpDate := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		resp       openaitest.Response
		code       provider.Code
		status     int
		retryAfter func(time.Duration) bool
	}{
		{"429 without Retry-After", openaitest.RateLimited(""), provider.CodeRateLimited, 429, eq(0)},
		{"429 Retry-After seconds", openaitest.RateLimited("7"), provider.CodeRateLimited, 429, eq(7 * time.Second)},
		{"429 Retry-After HTTP date", openaitest.RateLimited(httpDate), provider.CodeRateLimited, 429, between(20*time.Second, 31*time.Second)},
		{"429 retry-after-ms wins", openaitest.RateLimited("7").WithHeader("retry-after-ms", "1500"), provider.CodeRateLimited, 429, eq(1500 * time.Millisecond)},
		{"429 garbage Retry-After", openaitest.RateLimited("soon"), provider.CodeRateLimited, 429, eq(0)},
		{"429 past date", openaitest.RateLimited("Mon, 02 Jan 2006 15:04:05 GMT"), provider.CodeRateLimited, 429, eq(0)},
		{"500", openaitest.Status(500), provider.CodeServerError, 500, eq(0)},
		{"502", openaitest.Status(502), provider.CodeServerError, 502, eq(0)},
		{"503 with Retry-After", openaitest.Status(503).WithHeader("Retry-After", "2"), provider.CodeServerError, 503, eq(2 * time.Second)},
		{"504", openaitest.Status(504), provider.CodeServerError, 504, eq(0)},
		{"400", openaitest.Status(400), provider.CodeClientError, 400, eq(0)},
		{"401", openaitest.Status(401), provider.CodeClientError, 401, eq(0)},
		{"403", openaitest.Status(403), provider.CodeClientError, 403, eq(0)},
		{"404", openaitest.Status(404), provider.CodeClientError, 404, eq(0)},
		{"422", openaitest.Status(422), provider.CodeClientError, 422, eq(0)},
	}
	for _, kind := range allKinds {
		for _, tt := range tests {
			t.Run(string(kind)+"/"+tt.name, func(t *testing.T) {
				srv, c := setup(t)
				srv.For(kind).Enqueue(tt.resp)
				err := call(context.Background(), t, c, kind)
				var pe *provider.Error
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want *provider.Error", err)
				}
				if pe.Code != tt.code || provider.CodeOf(err) != tt.code {
					t.Errorf("code = %s, want %s", pe.Code, tt.code)
				}
				if pe.StatusCode != tt.status {
					t.Errorf("status = %d, want %d", pe.StatusCode, tt.status)
				}
				if !tt.retryAfter(pe.RetryAfter) || provider.RetryAfterOf(err) != pe.RetryAfter {
					t.Errorf("retry after = %v", pe.RetryAfter)
				}
				if got := srv.Requests(); got != 1 {
					t.Errorf("requests = %d, want exactly one attempt", got)
				}
			})
		}
	}
}

func eq(d time.Duration) func(time.Duration) bool {
	return func(x time.Duration) bool { return x == d }
}
func between(lo, hi time.Duration) func(time.Duration) bool {
	return func(x time.Duration) bool { return x >= lo && x <= hi }
}

func TestOpenAIInvalidOutput(t *testing.T) {
	tests := []struct {
		name  string
		kinds []openaitest.Kind
		resp  openaitest.Response
		want  string // part of the message naming the problem
	}{
		{"malformed JSON content", allKinds[:2], openaitest.Malformed(), "not the expected JSON"},
		{"content is prose", allKinds[:2], openaitest.RawContent("The item is worth about $40."), "not the expected JSON"},
		{"trailing data", allKinds[:2], openaitest.RawContent(`{"value":1,"confidence":0.5,"rationale":"r"} extra`), "trailing"},
		{"confidence out of range", allKinds[:2], openaitest.OutOfRange(), "confidence"},
		{"negative confidence", allKinds[:2], openaitest.OK(10, -0.1), "confidence"},
		{"non-finite value", allKinds[:2], openaitest.NonFinite(), "JSON"},
		{"value as string", allKinds[:2], openaitest.RawContent(`{"value":"12","confidence":0.5,"rationale":"r"}`), "JSON"},
		{"missing value", allKinds[:2], openaitest.RawContent(`{"confidence":0.5,"rationale":"r"}`), "no value"},
		{"missing confidence", allKinds[:2], openaitest.RawContent(`{"value":5,"rationale":"r"}`), "no confidence"},
		{"missing rationale", []openaitest.Kind{openaitest.KindJudge}, openaitest.MissingRationale(), "rationale"},
		{"empty rationale", []openaitest.Kind{openaitest.KindJudge}, openaitest.Judged(1, 0.5, "  "), "rationale"},
		{"missing usage", []openaitest.Kind{openaitest.KindCompletion}, openaitest.NoUsage(), "usage"},
		{"zero usage", []openaitest.Kind{openaitest.KindCompletion}, openaitest.Text("hi").WithUsage(provider.Usage{}), "total_tokens"},
		{"body not JSON", allKinds, openaitest.RawBody(200, "<html>oops</html>"), "not a chat completion"},
		{"no choices", allKinds, openaitest.RawBody(200, `{"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`), "no choices"},
		{"null content", allKinds, openaitest.RawBody(200, `{"model":"m","choices":[{"message":{"content":null}}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`), "content is missing"},
	}
	for _, tt := range tests {
		for _, kind := range tt.kinds {
			t.Run(string(kind)+"/"+tt.name, func(t *testing.T) {
				srv, c := setup(t)
				srv.For(kind).Enqueue(tt.resp)
				err := call(context.Background(), t, c, kind)
				if provider.CodeOf(err) != provider.CodeInvalidOutput {
					t.Fatalf("err = %v, want INVALID_OUTPUT", err)
				}
				if provider.CodeOf(err).Transient() {
					t.Error("INVALID_OUTPUT must not be transient")
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("err %q does not mention %q", err, tt.want)
				}
			})
		}
	}
}

func TestOpenAIFencedJSONIsAccepted(t *testing.T) {
	srv, c := setup(t)
	srv.ForVision().Enqueue(openaitest.RawContent("```json\n{\"value\": 12.5, \"confidence\": 0.6}\n```"))
	out, err := c.Vision(context.Background(), provider.VisionRequest{Image: pngImage(t)})
	if err != nil || out.Value != 12.5 || out.Confidence != 0.6 {
		t.Fatalf("got %+v, %v", out, err)
	}
}

func TestOpenAISuccess(t *testing.T) {
	srv, c := setup(t)
	srv.ForVision().Enqueue(openaitest.OK(1234.5, 0.91).WithModel("gpt-4o-2024"))
	srv.ForJudge().Enqueue(openaitest.Judged(1200, 0.8, "3 valuations agree within 5%"))
	srv.ForCompletion().Enqueue(openaitest.Text("done").WithUsage(provider.Usage{PromptTokens: 12, CompletionTokens: 3, TotalTokens: 15}))
	ctx := context.Background()

	v, err := c.Vision(ctx, provider.VisionRequest{Image: pngImage(t), ModelID: "gpt-4o"})
	if err != nil {
		t.Fatal(err)
	}
	if v != (provider.VisionOutput{Value: 1234.5, Confidence: 0.91, ModelID: "gpt-4o-2024"}) {
		t.Errorf("vision = %+v", v)
	}
	j, err := c.Judge(ctx, provider.JudgeRequest{Valuations: judgeInput()})
	if err != nil {
		t.Fatal(err)
	}
	if j != (provider.JudgeOutput{Value: 1200, Confidence: 0.8, Rationale: "3 valuations agree within 5%", ModelID: openaitest.DefaultJudgeModel}) {
		t.Errorf("judge = %+v", j)
	}
	co, err := c.Complete(ctx, provider.CompletionRequest{Prompt: "p", MaxTokens: 10})
	if err != nil {
		t.Fatal(err)
	}
	if co != (provider.CompletionOutput{Text: "done", ModelID: openaitest.DefaultCompletionModel, Usage: provider.Usage{PromptTokens: 12, CompletionTokens: 3, TotalTokens: 15}}) {
		t.Errorf("completion = %+v", co)
	}
}

func TestOpenAIRequestShape(t *testing.T) {
	srv, c := setup(t)
	ctx := context.Background()
	img := pngImage(t)
	tests := []struct {
		name      string
		kind      openaitest.Kind
		run       func() error
		model     string
		format    string
		requestID string
	}{
		{"vision default model", openaitest.KindVision, func() error {
			_, err := c.Vision(ctx, provider.VisionRequest{Image: img, RequestID: "item_v0_a0"})
			return err
		}, openaitest.DefaultVisionModel, "json_object", "item_v0_a0"},
		{"vision slot model", openaitest.KindVision, func() error {
			_, err := c.Vision(ctx, provider.VisionRequest{Image: provider.Image{Data: img.Data}, ModelID: "llava", RequestID: "item_v1_a0"})
			return err
		}, "llava", "json_object", "item_v1_a0"},
		{"judge", openaitest.KindJudge, func() error {
			_, err := c.Judge(ctx, provider.JudgeRequest{Valuations: judgeInput(), RequestID: "item_judge_a0"})
			return err
		}, openaitest.DefaultJudgeModel, "json_object", "item_judge_a0"},
		{"completion", openaitest.KindCompletion, func() error {
			_, err := c.Complete(ctx, provider.CompletionRequest{ModelID: "gpt-4o", Prompt: "say hi", MaxTokens: 7, RequestID: "job-9"})
			return err
		}, "gpt-4o", "", "job-9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err != nil {
				t.Fatal(err)
			}
			r, ok := srv.Last("")
			if !ok {
				t.Fatal("no request recorded")
			}
			if r.Kind != tt.kind {
				t.Errorf("kind = %s, want %s", r.Kind, tt.kind)
			}
			if r.Model != tt.model {
				t.Errorf("model = %q, want %q", r.Model, tt.model)
			}
			if r.ResponseFormat != tt.format {
				t.Errorf("response_format = %q, want %q", r.ResponseFormat, tt.format)
			}
			if r.Authorization != "Bearer "+testKey {
				t.Errorf("authorization = %q", r.Authorization)
			}
			if r.RequestID != tt.requestID {
				t.Errorf("request id = %q, want %q", r.RequestID, tt.requestID)
			}
			switch tt.kind {
			case openaitest.KindVision:
				if r.ImageURL != "data:image/png;base64," || r.MediaType != provider.MediaTypePNG {
					t.Errorf("image url = %q, media type %q", r.ImageURL, r.MediaType)
				}
				if string(r.Image) != string(img.Data) {
					t.Error("image bytes differ from what was sent")
				}
				if !strings.Contains(string(r.Body), base64.StdEncoding.EncodeToString(img.Data)) {
					t.Error("body does not carry the base64 image")
				}
				if !strings.HasPrefix(r.SystemPrompt, "inferflow:vision") || r.Prompt == "" {
					t.Errorf("system %q, user %q", r.SystemPrompt, r.Prompt)
				}
			case openaitest.KindJudge:
				if len(r.Valuations) != 3 || r.Valuations[1] != judgeInput()[1] {
					t.Errorf("valuations = %+v", r.Valuations)
				}
			case openaitest.KindCompletion:
				if r.Prompt != "say hi" || r.MaxTokens != 7 {
					t.Errorf("prompt %q, max_tokens %d", r.Prompt, r.MaxTokens)
				}
			}
		})
	}
}

func TestOpenAINoAuthHeaderWithoutKey(t *testing.T) {
	srv := openaitest.New()
	defer srv.Close()
	c, err := provider.NewOpenAI(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Vision(context.Background(), provider.VisionRequest{Image: pngImage(t)}); err != nil {
		t.Fatal(err)
	}
	if r, _ := srv.Last(""); r.Authorization != "" {
		t.Errorf("authorization = %q, want none", r.Authorization)
	}
}

func TestOpenAIKeyNeverInErrors(t *testing.T) {
	echo := `{"error":{"message":"Incorrect API key provided: ` + testKey + `. Check Bearer ` + testKey + `"}}`
	tests := []struct {
		name string
		resp openaitest.Response
	}{
		{"401 echoing the key", openaitest.RawBody(401, echo)},
		{"500 echoing the key as text", openaitest.RawBody(500, "upstream said "+testKey)},
		{"429", openaitest.RateLimited("1")},
		{"malformed", openaitest.Malformed()},
		{"drop", openaitest.Drop()},
	}
	for _, tt := range tests {
		for _, kind := range allKinds {
			if tt.name == "malformed" && kind == openaitest.KindCompletion {
				continue // completion text is free-form
			}
			t.Run(string(kind)+"/"+tt.name, func(t *testing.T) {
				srv, c := setup(t)
				srv.For(kind).Enqueue(tt.resp)
				err := call(context.Background(), t, c, kind)
				if err == nil {
					t.Fatal("want an error")
				}
				if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), "SECRET") {
					t.Errorf("error leaks the key: %v", err)
				}
			})
		}
	}
	// The real wrong-key path: the fake rejects with 401 → CLIENT_ERROR.
	srv := openaitest.New()
	defer srv.Close()
	srv.RequireAPIKey("the-right-key")
	cfg := srv.Config()
	cfg.APIKey = testKey
	c, _ := provider.NewOpenAI(cfg)
	err := call(context.Background(), t, c, openaitest.KindVision)
	if provider.CodeOf(err) != provider.CodeClientError || strings.Contains(err.Error(), testKey) {
		t.Errorf("wrong key: %v", err)
	}
}

func TestOpenAITimeout(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(string(kind)+"/context deadline", func(t *testing.T) {
			srv, c := setup(t)
			srv.For(kind).Enqueue(openaitest.Hang())
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := call(ctx, t, c, kind)
			if provider.CodeOf(err) != provider.CodeTimeout || !provider.CodeOf(err).Transient() {
				t.Fatalf("err = %v, want TIMEOUT", err)
			}
			if errors.Is(err, context.Canceled) {
				t.Error("a deadline must not look like a cancel")
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer wcancel()
			if err := srv.WaitAborted(wctx, 1); err != nil {
				t.Errorf("server did not see the abort: %v", err)
			}
		})
	}
	t.Run("client timeout", func(t *testing.T) {
		srv := openaitest.New()
		defer srv.Close()
		cfg := srv.Config()
		cfg.HTTPTimeout = 100 * time.Millisecond
		c, _ := provider.NewOpenAI(cfg)
		srv.Enqueue(openaitest.Delay(2 * time.Second))
		err := call(context.Background(), t, c, openaitest.KindVision)
		if provider.CodeOf(err) != provider.CodeTimeout {
			t.Fatalf("err = %v, want TIMEOUT", err)
		}
	})
}

func TestOpenAICancel(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			srv, c := setup(t)
			srv.For(kind).Enqueue(openaitest.Hang())
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- call(ctx, t, c, kind) }()
			wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer wcancel()
			if err := srv.WaitRequests(wctx, 1); err != nil {
				t.Fatal(err)
			}
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
				var pe *provider.Error
				if errors.As(err, &pe) {
					t.Errorf("a cancel must not be a classified failure: %v", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("cancel did not abort the in-flight request promptly")
			}
			if err := srv.WaitAborted(wctx, 1); err != nil {
				t.Fatalf("server did not see the abort: %v", err)
			}
			if r, _ := srv.Last(kind); !r.Aborted {
				t.Error("request not marked aborted")
			}
		})
	}
	t.Run("already cancelled sends nothing", func(t *testing.T) {
		srv, c := setup(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := call(ctx, t, c, openaitest.KindVision); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
		if srv.Requests() != 0 {
			t.Error("a request was sent on a cancelled context")
		}
	})
}

func TestOpenAIConnectionFailures(t *testing.T) {
	t.Run("dropped connection", func(t *testing.T) {
		srv, c := setup(t)
		srv.Enqueue(openaitest.Drop())
		err := call(context.Background(), t, c, openaitest.KindVision)
		if provider.CodeOf(err) != provider.CodeServerError {
			t.Fatalf("err = %v, want SERVER_ERROR", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c, err := provider.NewOpenAI(provider.Config{BaseURL: "http://" + addr + "/v1", VisionModel: "m", APIKey: testKey})
		if err != nil {
			t.Fatal(err)
		}
		err = call(context.Background(), t, c, openaitest.KindVision)
		if provider.CodeOf(err) != provider.CodeServerError || strings.Contains(err.Error(), testKey) {
			t.Fatalf("err = %v, want SERVER_ERROR without the key", err)
		}
	})
}

func TestOpenAIBodyLimit(t *testing.T) {
	srv, c := setup(t)
	huge := `{"model":"m","pad":"` + strings.Repeat("x", provider.MaxResponseBytes) + `"}`
	srv.Enqueue(openaitest.RawBody(200, huge))
	if err := call(context.Background(), t, c, openaitest.KindVision); provider.CodeOf(err) != provider.CodeInvalidOutput {
		t.Fatalf("err = %v, want INVALID_OUTPUT", err)
	}
}

func TestOpenAIRejectsBadInputWithoutCalling(t *testing.T) {
	srv, c := setup(t)
	ctx := context.Background()
	if _, err := c.Vision(ctx, provider.VisionRequest{Image: provider.Image{MediaType: "image/png", Data: []byte("GIF89a")}}); provider.CodeOf(err) != provider.CodeInvalidInput {
		t.Errorf("bad image: %v", err)
	}
	if _, err := c.Judge(ctx, provider.JudgeRequest{Valuations: []provider.Valuation{{Value: math.Inf(1), Confidence: 1}}}); provider.CodeOf(err) != provider.CodeInvalidInput {
		t.Errorf("bad valuations: %v", err)
	}
	if srv.Requests() != 0 {
		t.Errorf("%d requests sent for invalid input", srv.Requests())
	}
}

func TestNewSelectsImplementations(t *testing.T) {
	srv := openaitest.New()
	defer srv.Close()
	off, err := provider.New(provider.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := off.Judge.(provider.StatisticalJudge); !ok {
		t.Errorf("offline judge = %T", off.Judge)
	}
	if _, ok := off.Vision.(*provider.Offline); !ok {
		t.Errorf("offline vision = %T", off.Vision)
	}
	httpSet, err := provider.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := httpSet.Judge.(*provider.OpenAI); !ok {
		t.Errorf("openai judge = %T", httpSet.Judge)
	}
	cfg := srv.Config()
	cfg.Judge = provider.JudgeStatistical
	stat, err := provider.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := stat.Judge.(provider.StatisticalJudge); !ok {
		t.Errorf("statistical judge = %T", stat.Judge)
	}
	if _, err := provider.New(provider.Config{Kind: "bogus"}); err == nil {
		t.Error("bogus kind accepted")
	}
}
