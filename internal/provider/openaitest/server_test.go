package openaitest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
)

var png1x1 = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")

func newSet(t *testing.T) (*openaitest.Server, provider.Set) {
	t.Helper()
	srv := openaitest.New()
	t.Cleanup(srv.Close)
	set, err := provider.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	return srv, set
}

func vision(set provider.Set) (provider.VisionOutput, error) {
	return set.Vision.Vision(context.Background(), provider.VisionRequest{Image: provider.Image{Data: png1x1}})
}

func TestDefaultsPerKind(t *testing.T) {
	srv, set := newSet(t)
	ctx := context.Background()
	v, err := vision(set)
	if err != nil || v.Value != openaitest.DefaultVisionValue || v.Confidence != openaitest.DefaultVisionConfidence || v.ModelID != openaitest.DefaultVisionModel {
		t.Errorf("vision default = %+v, %v", v, err)
	}
	j, err := set.Judge.Judge(ctx, provider.JudgeRequest{Valuations: []provider.Valuation{{Value: 10, Confidence: 1}, {Value: 30, Confidence: 1}, {Value: 20, Confidence: 1}}})
	if err != nil || j.Value != 20 || j.Rationale == "" {
		t.Errorf("judge default = %+v, %v (want the median 20)", j, err)
	}
	c, err := set.Completer.Complete(ctx, provider.CompletionRequest{Prompt: "hello world", MaxTokens: 2})
	if err != nil || c.Usage.TotalTokens != c.Usage.PromptTokens+c.Usage.CompletionTokens || c.Usage.CompletionTokens > 2 {
		t.Errorf("completion default = %+v, %v", c, err)
	}
	for _, k := range []openaitest.Kind{openaitest.KindVision, openaitest.KindJudge, openaitest.KindCompletion} {
		if n := srv.RequestsFor(k); n != 1 {
			t.Errorf("%s requests = %d", k, n)
		}
	}
}

func TestScriptOrder(t *testing.T) {
	srv, set := newSet(t)
	srv.SetDefault(openaitest.OK(5, 0.5))
	srv.Enqueue(openaitest.OK(2, 0.5))
	srv.ForVision().Enqueue(openaitest.OK(1, 0.5))
	srv.ForJudge().Enqueue(openaitest.OK(99, 0.5)) // must not be used by vision
	want := []float64{1, 2, 5, 5}
	for i, w := range want {
		v, err := vision(set)
		if err != nil || v.Value != w {
			t.Errorf("call %d: %+v, %v; want value %v", i, v, err, w)
		}
	}
	if srv.ForJudge().Pending() != 1 || srv.ForVision().Pending() != 0 {
		t.Error("queues consumed by the wrong kind")
	}
	srv.ForVision().SetDefault(openaitest.OK(7, 0.5))
	if v, _ := vision(set); v.Value != 7 {
		t.Errorf("kind default should beat shared default, got %v", v.Value)
	}
	srv.Reset()
	if v, _ := vision(set); v.Value != openaitest.DefaultVisionValue || srv.Requests() != 1 {
		t.Errorf("after Reset: value %v, requests %d", v.Value, srv.Requests())
	}
}

func TestConcurrentRequests(t *testing.T) {
	srv, set := newSet(t)
	const n = 24
	for i := range n {
		srv.ForVision().Enqueue(openaitest.OK(float64(i), 0.5).WithDelay(time.Millisecond))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[float64]bool{}
	for range n {
		wg.Go(func() {
			v, err := vision(set)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seen[v.Value] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(seen) != n || srv.Requests() != n {
		t.Errorf("each scripted answer should be used once: %d distinct, %d requests", len(seen), srv.Requests())
	}
}

func TestAbortDetectionAndClose(t *testing.T) {
	srv, set := newSet(t)
	srv.ForVision().Enqueue(openaitest.Hang(), openaitest.Hang())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := set.Vision.Vision(ctx, provider.VisionRequest{Image: provider.Image{Data: png1x1}})
	if provider.CodeOf(err) != provider.CodeTimeout {
		t.Fatalf("err = %v", err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer wcancel()
	if err := srv.WaitAborted(wctx, 1); err != nil || srv.Aborted() != 1 {
		t.Fatalf("abort not seen: %v (aborted=%d)", err, srv.Aborted())
	}
	short, scancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer scancel()
	if err := srv.WaitAborted(short, 2); err == nil {
		t.Error("WaitAborted should time out when nothing else aborts")
	}

	// A request still hanging must not make Close block.
	go vision(set)
	if err := srv.WaitRequests(wctx, 2); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("Close blocked on a hanging request")
	}
}

func TestRawProtocol(t *testing.T) {
	srv := openaitest.New()
	defer srv.Close()
	srv.RequireAPIKey("k")
	post := func(path, auth, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL()+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name, path, auth, body string
		status                 int
	}{
		{"ok", "/chat/completions", "Bearer k", good, 200},
		{"wrong key", "/chat/completions", "Bearer nope", good, 401},
		{"no key", "/chat/completions", "", good, 401},
		{"wrong path", "/embeddings", "Bearer k", good, 404},
		{"not json", "/chat/completions", "Bearer k", "{", 400},
		{"no model", "/chat/completions", "Bearer k", `{"messages":[{"role":"user","content":"hi"}]}`, 400},
		{"no messages", "/chat/completions", "Bearer k", `{"model":"m"}`, 400},
		{"bad part", "/chat/completions", "Bearer k", `{"model":"m","messages":[{"role":"user","content":[{"type":"audio"}]}]}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(tt.path, tt.auth, tt.body)
			if status != tt.status {
				t.Errorf("status %d, want %d (%s)", status, tt.status, body)
			}
			if status != 200 {
				var e struct {
					Error struct{ Message string }
				}
				if json.Unmarshal([]byte(body), &e) != nil || e.Error.Message == "" {
					t.Errorf("error body is not OpenAI-shaped: %s", body)
				}
			}
		})
	}
	if srv.Requests() != len(tests)-1 { // the 404 is not a chat request
		t.Errorf("recorded %d requests", srv.Requests())
	}
}

func TestDropAndStatusHeaders(t *testing.T) {
	srv, set := newSet(t)
	srv.Enqueue(openaitest.Drop(), openaitest.Status(503).WithRetryAfter("3"))
	if _, err := vision(set); provider.CodeOf(err) != provider.CodeServerError {
		t.Errorf("drop: %v", err)
	}
	_, err := vision(set)
	if provider.CodeOf(err) != provider.CodeServerError || provider.RetryAfterOf(err) != 3*time.Second {
		t.Errorf("503: %v", err)
	}
}

// Past the limit within a second the server answers 429 with Retry-After,
// as a provider does; a second later it answers again.
func TestLimitRate(t *testing.T) {
	srv, set := newSet(t)
	srv.LimitRate(3)
	var ok, limited int
	for range 5 {
		_, err := vision(set)
		switch {
		case err == nil:
			ok++
		case provider.CodeOf(err) == provider.CodeRateLimited && provider.RetryAfterOf(err) == time.Second:
			limited++
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 3 || limited != 2 || srv.RateLimited() != 2 || srv.MaxPerSecond() != 5 {
		t.Errorf("ok %d, limited %d (server %d), max per second %d; want 3, 2, 2, 5", ok, limited, srv.RateLimited(), srv.MaxPerSecond())
	}
	time.Sleep(time.Second)
	if _, err := vision(set); err != nil {
		t.Errorf("a second later: %v", err)
	}
}

// A responder answers before the scripts; when it declines, the scripts do.
func TestResponder(t *testing.T) {
	srv := openaitest.New()
	defer srv.Close()
	srv.ForCompletion().SetDefault(openaitest.Text("scripted"))
	srv.SetResponder(func(r openaitest.Request) (openaitest.Response, bool) {
		if r.RequestID == "mine" {
			return openaitest.Status(503), true
		}
		return openaitest.Response{}, false
	})
	set, err := provider.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = set.Completer.Complete(ctx, provider.CompletionRequest{Prompt: "hi", RequestID: "mine"})
	if provider.CodeOf(err) != provider.CodeServerError {
		t.Fatalf("responder's answer: %v, want a server error", err)
	}
	out, err := set.Completer.Complete(ctx, provider.CompletionRequest{Prompt: "hi", RequestID: "other"})
	if err != nil || out.Text != "scripted" {
		t.Fatalf("declined request: %+v, %v; want the scripted text", out, err)
	}
	if last, _ := srv.Last(""); last.Path != "/v1/chat/completions" {
		t.Fatalf("recorded path %q", last.Path)
	}
}
