package workflows

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/inferflow/inferflow/activities"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/wire"
)

var act *activities.Consensus

func testPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func validInput(t testing.TB) wire.ConsensusInput {
	return wire.ConsensusInput{ItemID: "item-1", Image: wire.Image{MediaType: "image/png", Data: testPNG(t)}}
}

func intp(v int) *int { return &v }

// visionScript answers each slot by index; attempts are counted per slot.
type visionScript struct {
	mu       sync.Mutex
	attempts [VisionCallCount]int
	answer   func(slot, attempt int, ctx context.Context) (wire.VisionResult, error)
}

func (s *visionScript) call(ctx context.Context, in wire.VisionInput) (wire.VisionResult, error) {
	s.mu.Lock()
	s.attempts[in.CallIndex]++
	attempt := s.attempts[in.CallIndex]
	s.mu.Unlock()
	return s.answer(in.CallIndex, attempt, ctx)
}

func ok(slot int, value float64) (wire.VisionResult, error) {
	return wire.VisionResult{CallIndex: slot, Value: value, Confidence: 0.8, ModelID: "m"}, nil
}

func codeErr(code string) error {
	nonRetryable := !wire.Code(code).Transient()
	return temporal.NewApplicationErrorWithOptions("injected "+code, code, temporal.ApplicationErrorOptions{NonRetryable: nonRetryable})
}

type judgeCapture struct {
	mu    sync.Mutex
	calls int
	input wire.JudgeInput
}

func (j *judgeCapture) ok(_ context.Context, in wire.JudgeInput) (wire.JudgeResult, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.calls++
	j.input = in
	return wire.JudgeResult{ConsensusValue: 42, Confidence: 0.9, Rationale: "agree", ModelID: "judge"}, nil
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(ConsensusEvaluation)
	env.RegisterActivity(act)
	return env
}

// failure extracts the seed's code and consensus details from a failed run.
func failure(t *testing.T, err error) (wire.Code, wire.ConsensusFailure) {
	t.Helper()
	return failureDetails[wire.ConsensusFailure](t, err)
}

// failureDetails extracts the code and details of a workflow failure, which
// must be non-retryable at the workflow level.
func failureDetails[D any](t *testing.T, err error) (wire.Code, D) {
	t.Helper()
	var d D
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("want an application error, got %v", err)
	}
	if !appErr.NonRetryable() {
		t.Errorf("workflow failure %s must be non-retryable", appErr.Type())
	}
	if err := appErr.Details(&d); err != nil {
		t.Fatalf("details: %v", err)
	}
	return wire.Code(appErr.Type()), d
}

func TestConsensusAllSucceedOrdersJudgeInput(t *testing.T) {
	env := newEnv(t)
	vs := &visionScript{answer: func(slot, _ int, _ context.Context) (wire.VisionResult, error) {
		// Slot 0 finishes last, so arrival order differs from call order.
		if slot == 0 {
			time.Sleep(30 * time.Millisecond)
		}
		return ok(slot, float64(100+slot))
	}}
	j := &judgeCapture{}
	env.OnActivity(act.VisionCall, mock.Anything, mock.Anything).Return(vs.call)
	env.OnActivity(act.JudgeCall, mock.Anything, mock.Anything).Return(j.ok)
	env.ExecuteWorkflow(ConsensusEvaluation, validInput(t))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res wire.ConsensusResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Degraded || len(res.Valuations) != 3 || res.Judge.ConsensusValue != 42 || res.ItemID != "item-1" {
		t.Fatalf("result = %+v", res)
	}
	for i, v := range res.Valuations {
		if v.CallIndex != i {
			t.Fatalf("valuations not sorted by call index: %+v", res.Valuations)
		}
	}
	for i, v := range j.input.Valuations {
		if v.Value != float64(100+i) {
			t.Fatalf("judge input not ordered by call index: %+v", j.input.Valuations)
		}
	}
}

func TestConsensusOutcomes(t *testing.T) {
	type answers map[int][]string // slot -> code per attempt ("" = success)
	tests := []struct {
		name         string
		quorum       int
		script       answers
		wantCode     wire.Code // "" = success
		wantStrategy wire.RetryStrategy
		wantSummary  wire.FailureSummary
		wantDegraded bool
		wantAttempts [VisionCallCount]int
	}{
		{name: "one permanent failure is degraded", script: answers{1: {"CLIENT_ERROR"}},
			wantDegraded: true, wantAttempts: [3]int{1, 1, 1}},
		{name: "transient failure retried once then succeeds", script: answers{2: {"SERVER_ERROR", ""}},
			wantAttempts: [3]int{1, 1, 2}},
		{name: "invalid output is never retried", script: answers{0: {"INVALID_OUTPUT"}},
			wantDegraded: true, wantAttempts: [3]int{1, 1, 1}},
		{name: "quorum not met, transient majority", script: answers{0: {"TIMEOUT", "TIMEOUT"}, 1: {"RATE_LIMITED", "SERVER_ERROR"}},
			wantCode: wire.CodeQuorumNotMet, wantStrategy: wire.RetryWithBackoff, wantSummary: wire.FailureSummary{TransientCount: 2},
			wantAttempts: [3]int{2, 2, 1}},
		{name: "quorum not met, permanent majority", script: answers{0: {"CLIENT_ERROR"}, 1: {"INVALID_OUTPUT"}},
			wantCode: wire.CodeQuorumNotMet, wantStrategy: wire.NoRetry, wantSummary: wire.FailureSummary{ClientErrorCount: 1, InvalidOutputCount: 1},
			wantAttempts: [3]int{1, 1, 1}},
		{name: "quorum not met, mixed", script: answers{0: {"CLIENT_ERROR"}, 1: {"SERVER_ERROR", "SERVER_ERROR"}},
			wantCode: wire.CodeQuorumNotMet, wantStrategy: wire.DLQOnly, wantSummary: wire.FailureSummary{TransientCount: 1, ClientErrorCount: 1},
			wantAttempts: [3]int{1, 2, 1}},
		{name: "quorum 3 not met by one failure", quorum: 3, script: answers{2: {"CLIENT_ERROR"}},
			wantCode: wire.CodeQuorumNotMet, wantStrategy: wire.NoRetry, wantSummary: wire.FailureSummary{ClientErrorCount: 1},
			wantAttempts: [3]int{1, 1, 1}},
		{name: "quorum 1 met by one success", quorum: 1, script: answers{0: {"CLIENT_ERROR"}, 1: {"TIMEOUT", "TIMEOUT"}},
			wantDegraded: true, wantAttempts: [3]int{1, 2, 1}},
		{name: "all failed, transient", script: answers{0: {"TIMEOUT", "TIMEOUT"}, 1: {"SERVER_ERROR", "SERVER_ERROR"}, 2: {"RATE_LIMITED", "RATE_LIMITED"}},
			wantCode: wire.CodeVisionAllFailed, wantStrategy: wire.RetryWithBackoff, wantSummary: wire.FailureSummary{TransientCount: 3},
			wantAttempts: [3]int{2, 2, 2}},
		{name: "all failed, mixed", script: answers{0: {"CLIENT_ERROR"}, 1: {"SERVER_ERROR", "SERVER_ERROR"}, 2: {"INVALID_OUTPUT"}},
			wantCode: wire.CodeVisionAllFailed, wantStrategy: wire.NoRetry, wantSummary: wire.FailureSummary{TransientCount: 1, ClientErrorCount: 1, InvalidOutputCount: 1},
			wantAttempts: [3]int{1, 2, 1}},
		{name: "all failed, half permanent", script: answers{0: {"CLIENT_ERROR"}, 1: {"SERVER_ERROR", "SERVER_ERROR"}, 2: {"SERVER_ERROR", "CLIENT_ERROR"}},
			wantCode: wire.CodeVisionAllFailed, wantStrategy: wire.NoRetry, wantSummary: wire.FailureSummary{TransientCount: 1, ClientErrorCount: 2},
			wantAttempts: [3]int{1, 2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			vs := &visionScript{answer: func(slot, attempt int, _ context.Context) (wire.VisionResult, error) {
				codes := tt.script[slot]
				if attempt <= len(codes) && codes[attempt-1] != "" {
					return wire.VisionResult{}, codeErr(codes[attempt-1])
				}
				return ok(slot, 10)
			}}
			j := &judgeCapture{}
			env.OnActivity(act.VisionCall, mock.Anything, mock.Anything).Return(vs.call)
			env.OnActivity(act.JudgeCall, mock.Anything, mock.Anything).Return(j.ok)
			in := validInput(t)
			if tt.quorum != 0 {
				in.Options = &wire.ConsensusOptions{Quorum: intp(tt.quorum)}
			}
			env.ExecuteWorkflow(ConsensusEvaluation, in)
			if vs.attempts != tt.wantAttempts {
				t.Errorf("attempts = %v, want %v", vs.attempts, tt.wantAttempts)
			}
			err := env.GetWorkflowError()
			if tt.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
				var res wire.ConsensusResult
				_ = env.GetWorkflowResult(&res)
				if res.Degraded != tt.wantDegraded {
					t.Fatalf("degraded = %v, want %v", res.Degraded, tt.wantDegraded)
				}
				return
			}
			code, d := failure(t, err)
			if code != tt.wantCode || d.RetryStrategy != tt.wantStrategy || d.FailureSummary == nil || *d.FailureSummary != tt.wantSummary {
				t.Fatalf("got %s %s %+v, want %s %s %+v", code, d.RetryStrategy, d.FailureSummary, tt.wantCode, tt.wantStrategy, tt.wantSummary)
			}
			if j.calls != 0 {
				t.Fatalf("judge called %d times after a vision-stage failure", j.calls)
			}
		})
	}
}

func TestConsensusEarlyCancel(t *testing.T) {
	for _, early := range []bool{true, false} {
		t.Run(map[bool]string{true: "on", false: "off"}[early], func(t *testing.T) {
			env := newEnv(t)
			var slowCancelled atomic.Bool
			vs := &visionScript{answer: func(slot, _ int, ctx context.Context) (wire.VisionResult, error) {
				if slot == 1 {
					select {
					case <-ctx.Done():
						slowCancelled.Store(true)
						return wire.VisionResult{}, ctx.Err()
					case <-time.After(300 * time.Millisecond):
					}
				}
				return ok(slot, 7)
			}}
			j := &judgeCapture{}
			env.OnActivity(act.VisionCall, mock.Anything, mock.Anything).Return(vs.call)
			env.OnActivity(act.JudgeCall, mock.Anything, mock.Anything).Return(j.ok)
			in := validInput(t)
			in.Options = &wire.ConsensusOptions{EarlyCancel: early}
			env.ExecuteWorkflow(ConsensusEvaluation, in)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var res wire.ConsensusResult
			_ = env.GetWorkflowResult(&res)
			want := 3
			if early {
				want = 2
			}
			if len(res.Valuations) != want || res.Degraded {
				t.Fatalf("early=%v: valuations=%d degraded=%v, want %d, false", early, len(res.Valuations), res.Degraded, want)
			}
			if len(j.input.Valuations) != want {
				t.Fatalf("judge saw %d valuations, want %d", len(j.input.Valuations), want)
			}
			if early && !res.Degraded {
				for _, v := range res.Valuations {
					if v.CallIndex == 1 {
						t.Fatal("cancelled slot's valuation reached the result")
					}
				}
			}
			if !early && slowCancelled.Load() {
				t.Fatal("a call was cancelled without early cancel")
			}
			var p wire.ConsensusProgress
			v, err := env.QueryWorkflow(wire.QueryProgress)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Get(&p); err != nil {
				t.Fatal(err)
			}
			wantSlot := wire.SlotSucceeded
			if early {
				wantSlot = wire.SlotCancelled
			}
			if p.Stage != "done" || p.Slots[1].Status != wantSlot || p.Slots[0].Status != wire.SlotSucceeded {
				t.Fatalf("progress = %+v", p)
			}
		})
	}
}

func TestConsensusJudge(t *testing.T) {
	tests := []struct {
		name         string
		codes        []string // per attempt; "" = success
		wantCode     wire.Code
		wantStrategy wire.RetryStrategy
		wantJudge    wire.Code
		wantCalls    int
	}{
		{name: "transient then success", codes: []string{"RATE_LIMITED", ""}, wantCalls: 2},
		{name: "transient twice", codes: []string{"SERVER_ERROR", "TIMEOUT"}, wantCode: wire.CodeJudgeFailed,
			wantStrategy: wire.RetryWithBackoff, wantJudge: "TIMEOUT", wantCalls: 2},
		{name: "client error", codes: []string{"CLIENT_ERROR"}, wantCode: wire.CodeJudgeFailed,
			wantStrategy: wire.NoRetry, wantJudge: "CLIENT_ERROR", wantCalls: 1},
		{name: "invalid output", codes: []string{"INVALID_OUTPUT"}, wantCode: wire.CodeJudgeInvalidOutput,
			wantStrategy: wire.NoRetry, wantJudge: "INVALID_OUTPUT", wantCalls: 1},
		{name: "invalid input", codes: []string{"INVALID_INPUT"}, wantCode: wire.CodeJudgeInvalidInput,
			wantStrategy: wire.NoRetry, wantJudge: "INVALID_INPUT", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			vs := &visionScript{answer: func(slot, _ int, _ context.Context) (wire.VisionResult, error) { return ok(slot, 5) }}
			var calls atomic.Int32
			env.OnActivity(act.VisionCall, mock.Anything, mock.Anything).Return(vs.call)
			env.OnActivity(act.JudgeCall, mock.Anything, mock.Anything).Return(
				func(context.Context, wire.JudgeInput) (wire.JudgeResult, error) {
					n := int(calls.Add(1))
					if n <= len(tt.codes) && tt.codes[n-1] != "" {
						return wire.JudgeResult{}, codeErr(tt.codes[n-1])
					}
					return wire.JudgeResult{ConsensusValue: 5, Confidence: 1, Rationale: "r", ModelID: "j"}, nil
				})
			env.ExecuteWorkflow(ConsensusEvaluation, validInput(t))
			if int(calls.Load()) != tt.wantCalls {
				t.Errorf("judge calls = %d, want %d", calls.Load(), tt.wantCalls)
			}
			err := env.GetWorkflowError()
			if tt.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			code, d := failure(t, err)
			if code != tt.wantCode || d.RetryStrategy != tt.wantStrategy || d.JudgeErrorCode != tt.wantJudge {
				t.Fatalf("got %s/%s/%s, want %s/%s/%s", code, d.RetryStrategy, d.JudgeErrorCode, tt.wantCode, tt.wantStrategy, tt.wantJudge)
			}
		})
	}
}

func TestConsensusJudgeInvalidInputBeforeCall(t *testing.T) {
	env := newEnv(t)
	vs := &visionScript{answer: func(slot, _ int, _ context.Context) (wire.VisionResult, error) {
		return wire.VisionResult{CallIndex: slot, Value: 1, Confidence: 1.5, ModelID: "m"}, nil
	}}
	j := &judgeCapture{}
	env.OnActivity(act.VisionCall, mock.Anything, mock.Anything).Return(vs.call)
	env.OnActivity(act.JudgeCall, mock.Anything, mock.Anything).Return(j.ok)
	env.ExecuteWorkflow(ConsensusEvaluation, validInput(t))
	code, d := failure(t, env.GetWorkflowError())
	if code != wire.CodeJudgeInvalidInput || d.RetryStrategy != wire.NoRetry || d.JudgeErrorCode != "INVALID_INPUT" || j.calls != 0 {
		t.Fatalf("got %s %+v, judge calls %d", code, d, j.calls)
	}
}

func TestConsensusValidation(t *testing.T) {
	png := testPNG(t)
	ref := &blob.Ref{Key: "ab", SHA256: "ab", Size: 1, MediaType: "image/png"}
	tests := []struct {
		name string
		in   wire.ConsensusInput
	}{
		{"empty item id", wire.ConsensusInput{ItemID: "  ", Image: wire.Image{MediaType: "image/png", Data: png}}},
		{"control chars in item id", wire.ConsensusInput{ItemID: "a\x00b", Image: wire.Image{MediaType: "image/png", Data: png}}},
		{"gif media type", wire.ConsensusInput{ItemID: "i", Image: wire.Image{MediaType: "image/gif", Data: png}}},
		{"empty data", wire.ConsensusInput{ItemID: "i", Image: wire.Image{MediaType: "image/png"}}},
		{"bytes are not the declared type", wire.ConsensusInput{ItemID: "i", Image: wire.Image{MediaType: "image/jpeg", Data: png}}},
		{"bytes are no image", wire.ConsensusInput{ItemID: "i", Image: wire.Image{MediaType: "image/png", Data: []byte("hello")}}},
		{"too big inline", wire.ConsensusInput{ItemID: "i", Image: wire.Image{MediaType: "image/png", Data: append(png, make([]byte, wire.MaxInlineImageBytes)...)}}},
		{"malformed ref", wire.ConsensusInput{ItemID: "i", Image: wire.Image{MediaType: "image/png", Ref: ref}}},
		{"quorum 0", withOpts(png, wire.ConsensusOptions{Quorum: intp(0)})},
		{"quorum 4", withOpts(png, wire.ConsensusOptions{Quorum: intp(4)})},
		{"vision timeout too small", withOpts(png, wire.ConsensusOptions{VisionTimeoutMs: intp(999)})},
		{"judge timeout too big", withOpts(png, wire.ConsensusOptions{JudgeTimeoutMs: intp(120_001)})},
		{"two model ids", withOpts(png, wire.ConsensusOptions{VisionModelIDs: []string{"a", "b"}})},
		{"blank model id", withOpts(png, wire.ConsensusOptions{VisionModelIDs: []string{"a", "", "c"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			var called atomic.Int32
			env.OnActivity(act.VisionCall, mock.Anything, mock.Anything).Return(
				func(context.Context, wire.VisionInput) (wire.VisionResult, error) {
					called.Add(1)
					return wire.VisionResult{}, nil
				})
			env.ExecuteWorkflow(ConsensusEvaluation, tt.in)
			code, d := failure(t, env.GetWorkflowError())
			if code != wire.CodeValidationFailed || d.RetryStrategy != wire.NoRetry {
				t.Fatalf("got %s/%s", code, d.RetryStrategy)
			}
			if len(d.InvalidFields) == 0 || d.InvalidFields[0].Field == "" {
				t.Fatalf("the details name no field: %+v", d)
			}
			if called.Load() != 0 {
				t.Fatal("a model was called for invalid input")
			}
		})
	}
}

func withOpts(png []byte, o wire.ConsensusOptions) wire.ConsensusInput {
	return wire.ConsensusInput{ItemID: "i", Image: wire.Image{MediaType: "image/png", Data: png}, Options: &o}
}

func TestConsensusBlobRefVerifiedFirst(t *testing.T) {
	dir := blob.Dir{Root: t.TempDir()}
	ref, err := dir.Put(context.Background(), testPNG(t), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	// The verify activity runs for real against an empty store: the blob is missing.
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(ConsensusEvaluation)
	env.RegisterActivity(&activities.Consensus{Blobs: blob.Dir{Root: t.TempDir()}})
	env.ExecuteWorkflow(ConsensusEvaluation, wire.ConsensusInput{ItemID: "i", Image: wire.Image{MediaType: "image/png", Ref: &ref}})
	code, d := failure(t, env.GetWorkflowError())
	if code != wire.CodeValidationFailed || len(d.InvalidFields) != 1 || d.InvalidFields[0].Field != "image.ref" {
		t.Fatalf("code = %s, %+v", code, d)
	}
	// The message reads once, without stutter.
	var appErr *temporal.ApplicationError
	errors.As(env.GetWorkflowError(), &appErr)
	if msg := appErr.Message(); !strings.HasPrefix(msg, "Invalid input: image.ref: blob get ") || strings.Count(strings.ToLower(msg), "invalid") != 1 {
		t.Fatalf("message %q", msg)
	}
}

func TestVisionRetryStrategy(t *testing.T) {
	tests := []struct {
		s     wire.FailureSummary
		total int
		want  wire.RetryStrategy
	}{
		{wire.FailureSummary{TransientCount: 3}, 3, wire.RetryWithBackoff},
		{wire.FailureSummary{}, 0, wire.RetryWithBackoff},
		{wire.FailureSummary{ClientErrorCount: 2, TransientCount: 1}, 3, wire.NoRetry},
		{wire.FailureSummary{InvalidOutputCount: 1}, 1, wire.NoRetry},
		{wire.FailureSummary{ClientErrorCount: 1, TransientCount: 1}, 2, wire.DLQOnly},
		{wire.FailureSummary{InvalidOutputCount: 1, TransientCount: 2}, 3, wire.DLQOnly},
	}
	for _, tt := range tests {
		if got := visionRetryStrategy(tt.s, tt.total); got != tt.want {
			t.Errorf("visionRetryStrategy(%+v, %d) = %s, want %s", tt.s, tt.total, got, tt.want)
		}
	}
}

func TestActivityErrorCode(t *testing.T) {
	tests := []struct {
		err  error
		want wire.Code
	}{
		{temporal.NewApplicationError("x", "RATE_LIMITED"), "RATE_LIMITED"},
		{temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil), "TIMEOUT"},
		{temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil), "TIMEOUT"},
		{errors.New("boom"), "SERVER_ERROR"},
	}
	for _, tt := range tests {
		if got := activityErrorCode(tt.err); got != tt.want {
			t.Errorf("activityErrorCode(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

// Wrong JSON types in the input end the run as VALIDATION_FAILED naming the
// field, with its metric, like any other invalid input (not as the SDK's
// untyped decode error). The input travels as raw JSON, as from the CLI.
func TestConsensusWrongJSONTypesAreValidationFailures(t *testing.T) {
	tests := []struct{ name, input, field string }{
		{"fractional quorum", `{"itemId":"i","image":{"mediaType":"image/png","data":"iVBORw0KGgo="},"options":{"quorum":2.5}}`, "options.quorum"},
		{"item id a number", `{"itemId":7,"image":{"mediaType":"image/png","data":"iVBORw0KGgo="}}`, "itemId"},
		{"quorum as a string", `{"itemId":"i","image":{"mediaType":"image/png","data":"iVBORw0KGgo="},"options":{"quorum":"2"}}`, "options.quorum"},
		{"image not base64", `{"itemId":"i","image":{"mediaType":"image/png","data":"%%%"}}`, "image.data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			env.ExecuteWorkflow(wire.WorkflowConsensusEvaluation, json.RawMessage(tt.input))
			code, d := failure(t, env.GetWorkflowError())
			if code != wire.CodeValidationFailed || d.RetryStrategy != wire.NoRetry || len(d.InvalidFields) != 1 || d.InvalidFields[0].Field != tt.field {
				t.Fatalf("got %s %+v", code, d)
			}
			var appErr *temporal.ApplicationError
			if errors.As(env.GetWorkflowError(), &appErr); appErr.Message() != "Invalid input: "+d.InvalidFields[0].Error() {
				t.Fatalf("message %q", appErr.Message())
			}
		})
	}
}

// Every activity failure maps to a defined code in a failure bucket.
func TestActivityErrorCodeOfUntypedFailures(t *testing.T) {
	tests := []struct {
		err  error
		want wire.Code
	}{
		{temporal.NewApplicationError("blob get: read: EIO", "wrapError"), wire.CodeServerError},
		{temporal.NewApplicationError("panic", "PanicError"), wire.CodeInternalError},
		{temporal.NewApplicationError("x", string(wire.CodeStorageError)), wire.CodeStorageError},
		{temporal.NewApplicationError("x", string(wire.CodeValidationFailed)), wire.CodeInvalidInput},
	}
	for _, tt := range tests {
		if got := activityErrorCode(tt.err); got != tt.want {
			t.Errorf("activityErrorCode(%v) = %s, want %s", tt.err, got, tt.want)
		}
		s := summarize([]wire.SlotFailure{{ErrorCode: activityErrorCode(tt.err)}})
		if s.TransientCount+s.ClientErrorCount+s.InvalidOutputCount+s.InternalErrorCount != 1 {
			t.Errorf("%v is counted in no failure bucket: %+v", tt.err, s)
		}
	}
	if got := visionRetryStrategy(wire.FailureSummary{InternalErrorCount: 1, TransientCount: 2}, 3); got != wire.DLQOnly {
		t.Errorf("an internal error: strategy %s, want dlq_only", got)
	}
}

// A panicking vision activity is INTERNAL_ERROR, not retried; an I/O error
// reading the image is IMAGE_UNAVAILABLE / retry_with_backoff, not
// VALIDATION_FAILED.
func TestConsensusActivityFailuresEndTyped(t *testing.T) {
	t.Run("panic", func(t *testing.T) {
		env := newEnv(t)
		var calls atomic.Int32
		env.OnActivity(act.VisionCall, mock.Anything, mock.Anything).Return(
			func(context.Context, wire.VisionInput) (wire.VisionResult, error) {
				calls.Add(1)
				panic("bug")
			})
		env.ExecuteWorkflow(ConsensusEvaluation, validInput(t))
		code, d := failure(t, env.GetWorkflowError())
		if code != wire.CodeVisionAllFailed || d.RetryStrategy != wire.DLQOnly || d.FailureSummary.InternalErrorCount != 3 {
			t.Fatalf("got %s %+v %+v", code, d, d.FailureSummary)
		}
		for _, f := range d.Failures {
			if f.ErrorCode != wire.CodeInternalError {
				t.Errorf("slot %d: %s", f.CallIndex, f.ErrorCode)
			}
		}
	})
	t.Run("image I/O", func(t *testing.T) {
		env := newEnv(t)
		env.OnActivity(act.VerifyImage, mock.Anything, mock.Anything).Return(
			temporal.NewApplicationError("read image: blob get: input/output error", string(wire.CodeStorageError)))
		ref := &wire.BlobRef{Key: strings.Repeat("a", 64), SHA256: strings.Repeat("a", 64), Size: 10, MediaType: "image/png"}
		env.ExecuteWorkflow(ConsensusEvaluation, wire.ConsensusInput{ItemID: "i", Image: wire.Image{MediaType: "image/png", Ref: ref}})
		code, d := failure(t, env.GetWorkflowError())
		if code != wire.CodeImageUnavailable || d.RetryStrategy != wire.RetryWithBackoff {
			t.Fatalf("got %s %+v", code, d)
		}
	})
}
