package activities

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/inferflow/inferflow/internal/metrics/metricstest"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/wire"
)

// scriptedModel answers vision and judge calls with a fixed output or error.
type scriptedModel struct {
	vision provider.VisionOutput
	judge  provider.JudgeOutput
	err    error
	got    provider.VisionRequest
}

func (m *scriptedModel) Vision(_ context.Context, req provider.VisionRequest) (provider.VisionOutput, error) {
	m.got = req
	return m.vision, m.err
}

func (m *scriptedModel) Judge(context.Context, provider.JudgeRequest) (provider.JudgeOutput, error) {
	return m.judge, m.err
}

func pngBytes(t *testing.T) []byte {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "item-42.png"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func activityEnv(h client.MetricsHandler) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	if h != nil {
		s.SetMetricsHandler(h)
	}
	return s.NewTestActivityEnvironment()
}

// appError returns the application error inside an activity failure.
func appError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("want an application error, got %v", err)
	}
	return appErr
}

func TestVisionCallClassifiesFailures(t *testing.T) {
	tests := []struct {
		name         string
		out          provider.VisionOutput
		err          error
		wantType     string
		nonRetryable bool
		retryAfter   time.Duration
	}{
		{name: "rate limited with Retry-After", err: &provider.Error{Code: provider.CodeRateLimited, StatusCode: 429, RetryAfter: 3 * time.Second},
			wantType: "RATE_LIMITED", retryAfter: 3 * time.Second},
		{name: "server error", err: &provider.Error{Code: provider.CodeServerError, StatusCode: 502}, wantType: "SERVER_ERROR"},
		{name: "timeout", err: context.DeadlineExceeded, wantType: "TIMEOUT"},
		{name: "client error", err: &provider.Error{Code: provider.CodeClientError, StatusCode: 400}, wantType: "CLIENT_ERROR", nonRetryable: true},
		{name: "confidence out of range", out: provider.VisionOutput{Value: 1, Confidence: 1.2, ModelID: "m"}, wantType: "INVALID_OUTPUT", nonRetryable: true},
		{name: "value not finite", out: provider.VisionOutput{Value: math.Inf(1), Confidence: 0.5, ModelID: "m"}, wantType: "INVALID_OUTPUT", nonRetryable: true},
		{name: "no model id", out: provider.VisionOutput{Value: 1, Confidence: 0.5}, wantType: "INVALID_OUTPUT", nonRetryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := activityEnv(nil)
			m := &scriptedModel{vision: tt.out, err: tt.err}
			env.RegisterActivity(&Consensus{Vision: m, Judge: m})
			_, err := env.ExecuteActivity((&Consensus{}).VisionCall, wire.VisionInput{ItemID: "i", CallIndex: 2, Image: wire.Image{MediaType: "image/png", Data: pngBytes(t)}})
			appErr := appError(t, err)
			if appErr.Type() != tt.wantType || appErr.NonRetryable() != tt.nonRetryable || appErr.NextRetryDelay() != tt.retryAfter {
				t.Fatalf("got %s nonRetryable=%v delay=%s", appErr.Type(), appErr.NonRetryable(), appErr.NextRetryDelay())
			}
		})
	}
}

func TestVisionCallSucceedsAndCounts(t *testing.T) {
	reg, h := metricstest.New(t)
	env := activityEnv(h)
	m := &scriptedModel{vision: provider.VisionOutput{Value: 12, Confidence: 0.7, ModelID: "model-x"}}
	env.RegisterActivity(&Consensus{Vision: m, Judge: m})
	v, err := env.ExecuteActivity((&Consensus{}).VisionCall, wire.VisionInput{ItemID: "item-9", CallIndex: 1, ModelID: "model-x", Image: wire.Image{MediaType: "image/png", Data: pngBytes(t)}})
	if err != nil {
		t.Fatal(err)
	}
	var res wire.VisionResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	if res.CallIndex != 1 || res.Value != 12 || res.ModelID != "model-x" {
		t.Fatalf("result = %+v", res)
	}
	if m.got.RequestID != "item-9_v1_a0" || m.got.ModelID != "model-x" || m.got.Image.MediaType != "image/png" {
		t.Fatalf("request = %+v", m.got)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, f := range families {
		found[f.GetName()] = true
	}
	for _, name := range []string{"consensus_vision_call_success_total", "consensus_vision_call_duration_seconds"} {
		if !found[name] {
			t.Errorf("metric %s not emitted", name)
		}
	}
}

func TestVisionCallVerifiesBlobReference(t *testing.T) {
	ctx := context.Background()
	dir := blob.Dir{Root: t.TempDir()}
	ref, err := dir.Put(ctx, pngBytes(t), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	m := &scriptedModel{vision: provider.VisionOutput{Value: 1, Confidence: 0.5, ModelID: "m"}}
	env := activityEnv(nil)
	env.RegisterActivity(&Consensus{Vision: m, Judge: m, Blobs: dir})
	if _, err := env.ExecuteActivity((&Consensus{}).VisionCall, wire.VisionInput{ItemID: "i", Image: wire.Image{MediaType: "image/png", Ref: &ref}}); err != nil {
		t.Fatalf("valid reference: %v", err)
	}
	// Tamper with the stored bytes: the hash no longer matches.
	if err := os.WriteFile(filepath.Join(dir.Root, ref.Key[:2], ref.Key), []byte("not the image"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = env.ExecuteActivity((&Consensus{}).VisionCall, wire.VisionInput{ItemID: "i", Image: wire.Image{MediaType: "image/png", Ref: &ref}})
	if appErr := appError(t, err); appErr.Type() != string(wire.CodeInvalidInput) || !appErr.NonRetryable() {
		t.Fatalf("tampered blob: %v", err)
	}
	if _, err := env.ExecuteActivity((&Consensus{}).VerifyImage, wire.Image{MediaType: "image/png", Ref: &ref}); appError(t, err).Type() != string(wire.CodeValidationFailed) {
		t.Fatalf("VerifyImage accepted a tampered blob: %v", err)
	}
}

func TestJudgeCall(t *testing.T) {
	tests := []struct {
		name     string
		in       wire.JudgeInput
		out      provider.JudgeOutput
		err      error
		wantType string
	}{
		{name: "ok", in: wire.JudgeInput{Valuations: []wire.Valuation{{Value: 1, Confidence: 1}}},
			out: provider.JudgeOutput{Value: 1, Confidence: 0.9, Rationale: "r", ModelID: "j"}},
		{name: "empty rationale", in: wire.JudgeInput{Valuations: []wire.Valuation{{Value: 1, Confidence: 1}}},
			out: provider.JudgeOutput{Value: 1, Confidence: 0.9, ModelID: "j"}, wantType: "INVALID_OUTPUT"},
		{name: "no valuations", in: wire.JudgeInput{}, wantType: "INVALID_INPUT"},
		{name: "rate limited", in: wire.JudgeInput{Valuations: []wire.Valuation{{Value: 1, Confidence: 1}}},
			err: &provider.Error{Code: provider.CodeRateLimited}, wantType: "RATE_LIMITED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := activityEnv(nil)
			m := &scriptedModel{judge: tt.out, err: tt.err}
			env.RegisterActivity(&Consensus{Vision: m, Judge: m})
			_, err := env.ExecuteActivity((&Consensus{}).JudgeCall, tt.in)
			if tt.wantType == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if got := appError(t, err).Type(); got != tt.wantType {
				t.Fatalf("type = %s, want %s", got, tt.wantType)
			}
		})
	}
}

// panicky is a model that panics: a bug in a provider.
type panicky struct{ scriptedModel }

func (panicky) Vision(context.Context, provider.VisionRequest) (provider.VisionOutput, error) {
	panic("provider bug")
}

// Every failure of a consensus activity is an application error with a
// defined code: an unreadable blob store is STORAGE_ERROR (retried), a
// panic INTERNAL_ERROR (not retried), each with its message once.
func TestConsensusActivityFailuresAreTyped(t *testing.T) {
	// A blob store whose root is a file: every read is an I/O error.
	root := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(root, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ref, err := blob.Dir{Root: t.TempDir()}.Put(context.Background(), pngBytes(t), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	broken := &Consensus{Vision: &scriptedModel{}, Judge: &scriptedModel{}, Blobs: blob.Dir{Root: root}}
	byRef := wire.Image{MediaType: "image/png", Ref: &ref}
	inline := wire.Image{MediaType: "image/png", Data: pngBytes(t)}
	tests := []struct {
		name         string
		run          func(*testsuite.TestActivityEnvironment) error
		code         wire.Code
		nonRetryable bool
	}{
		{"verify: blob I/O", func(env *testsuite.TestActivityEnvironment) error {
			env.RegisterActivity(broken)
			_, err := env.ExecuteActivity(broken.VerifyImage, byRef)
			return err
		}, wire.CodeStorageError, false},
		{"vision: blob I/O", func(env *testsuite.TestActivityEnvironment) error {
			env.RegisterActivity(broken)
			_, err := env.ExecuteActivity(broken.VisionCall, wire.VisionInput{ItemID: "i", Image: byRef})
			return err
		}, wire.CodeStorageError, false},
		{"vision: panic", func(env *testsuite.TestActivityEnvironment) error {
			c := &Consensus{Vision: panicky{}, Judge: &scriptedModel{}}
			env.RegisterActivity(c)
			_, err := env.ExecuteActivity(c.VisionCall, wire.VisionInput{ItemID: "i", Image: inline})
			return err
		}, wire.CodeInternalError, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(activityEnv(nil))
			appErr := appError(t, err)
			if appErr.Type() != string(tt.code) || appErr.NonRetryable() != tt.nonRetryable {
				t.Fatalf("got %s (non-retryable %v), want %s (%v): %v", appErr.Type(), appErr.NonRetryable(), tt.code, tt.nonRetryable, err)
			}
		})
	}
}

// A transient failure that will be retried is benign (the SDK logs it at
// DEBUG); the last attempt's and a permanent failure are not. The message
// is said once.
func TestModelErrorCategoryAndMessage(t *testing.T) {
	rateLimited := &provider.Error{Code: provider.CodeRateLimited, StatusCode: 429, Message: "vision: Too Many Requests"}
	twoAttempts := &temporal.RetryPolicy{MaximumAttempts: 2}
	tests := []struct {
		name    string
		err     error
		attempt int32
		benign  bool
	}{
		{"429 with a retry left", rateLimited, 1, true},
		{"429 on the last attempt", rateLimited, 2, false},
		{"400", &provider.Error{Code: provider.CodeClientError, StatusCode: 400, Message: "vision: Bad Request"}, 1, false},
	}
	for _, tt := range tests {
		code := wireCode(provider.CodeOf(tt.err))
		err := newCodeError(code, tt.err.Error(), 0, retriesLeft(tt.attempt, twoAttempts))
		appErr := appError(t, err)
		if benign := appErr.Category() == temporal.ApplicationErrorCategoryBenign; benign != tt.benign {
			t.Errorf("%s: benign = %v, want %v", tt.name, benign, tt.benign)
		}
	}
	// Through the activity: the application error carries the message once.
	env := activityEnv(nil)
	c := &Consensus{Vision: &scriptedModel{err: rateLimited}, Judge: &scriptedModel{}}
	env.RegisterActivity(c)
	_, err := env.ExecuteActivity(c.VisionCall, wire.VisionInput{ItemID: "i", Image: wire.Image{MediaType: "image/png", Data: pngBytes(t)}})
	if n := strings.Count(err.Error(), rateLimited.Error()); n != 1 {
		t.Errorf("the message appears %d times in %q", n, err.Error())
	}
	if appError(t, err).Category() != temporal.ApplicationErrorCategoryBenign {
		t.Errorf("a first-attempt 429 is not benign: %v", err)
	}
}
