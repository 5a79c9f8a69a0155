package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/activities"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/wire"
)

// billing names the billing activities for mocks.
var billing *activities.Billing

// fakeBilling records what the saga asked of billing and answers by script.
type fakeBilling struct {
	mu           sync.Mutex
	reserveErr   func(attempt int) error
	modelErr     error
	modelBlock   bool
	releaseErr   func(attempt int) error
	captureErr   func(attempt int) error
	claimErr     func(attempt int) error
	claimCalls   int
	claims       map[string]string // jobId → the run that claimed it: the ledger's job claims
	modelUsage   *wire.Usage       // the model's answer; nil = usage
	modelInputs  []wire.ModelInput
	dlqErr       error
	reserves     int
	releases     int
	captures     []wire.CaptureInput
	models       int
	dlq          []wire.DLQInput
	reconciles   []wire.ReconcileInput
	allowlist    map[string]bool
	modelStarted chan struct{}
}

func newFakeBilling() *fakeBilling {
	return &fakeBilling{allowlist: map[string]bool{"gpt-4o": true}, claims: map[string]string{}, modelStarted: make(chan struct{}, 1)}
}

// Holds of the fake: the model's completion maximum and so the token bound.
const fakeMaxCompletion = 500

var usage = wire.Usage{PromptTokens: 100, CompletionTokens: 40, TotalTokens: 140}

func (f *fakeBilling) install(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity("CheckModel", mock.Anything, mock.Anything).Return(
		func(_ context.Context, id string) (wire.ModelCheck, error) {
			return wire.ModelCheck{Allowlisted: f.allowlist[id]}, nil
		})
	env.OnActivity(billing.ClaimJob, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in wire.ClaimInput) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.claimCalls++
			if f.claimErr != nil {
				if err := f.claimErr(f.claimCalls); err != nil {
					return err
				}
			}
			if holder, ok := f.claims[in.JobID]; ok && holder != in.RunID {
				return temporal.NewNonRetryableApplicationError("claimed", string(wire.CodeDuplicateJob), nil, holder)
			}
			f.claims[in.JobID] = in.RunID
			return nil
		})
	env.OnActivity(billing.Reserve, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in wire.ReserveInput) (wire.Reservation, error) {
			f.mu.Lock()
			f.reserves++
			n := f.reserves
			f.mu.Unlock()
			if f.reserveErr != nil {
				if err := f.reserveErr(n); err != nil {
					return wire.Reservation{}, err
				}
			}
			return wire.Reservation{ID: "hold-" + in.JobID, Amount: 1000,
				MaxTokens: in.PromptTokens + fakeMaxCompletion, MaxCompletionTokens: fakeMaxCompletion}, nil
		})
	env.OnActivity(billing.CallModel, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in wire.ModelInput) (wire.ModelResult, error) {
			f.mu.Lock()
			f.models++
			f.modelInputs = append(f.modelInputs, in)
			answer := usage
			if f.modelUsage != nil {
				answer = *f.modelUsage
			}
			f.mu.Unlock()
			if f.modelBlock {
				f.modelStarted <- struct{}{}
				<-ctx.Done()
				return wire.ModelResult{}, ctx.Err()
			}
			if f.modelErr != nil {
				return wire.ModelResult{}, f.modelErr
			}
			return wire.ModelResult{Text: "ok", ModelID: in.ModelID, Usage: answer}, nil
		})
	env.OnActivity(billing.Release, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in wire.ReleaseInput) (wire.ReleaseResult, error) {
			f.mu.Lock()
			f.releases++
			n := f.releases
			f.mu.Unlock()
			if f.releaseErr != nil {
				if err := f.releaseErr(n); err != nil {
					return wire.ReleaseResult{}, err
				}
			}
			return wire.ReleaseResult{ReservationID: in.ReservationID}, nil
		})
	env.OnActivity(billing.Capture, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in wire.CaptureInput) (wire.CaptureResult, error) {
			f.mu.Lock()
			f.captures = append(f.captures, in)
			n := len(f.captures)
			f.mu.Unlock()
			if f.captureErr != nil {
				if err := f.captureErr(n); err != nil {
					return wire.CaptureResult{}, err
				}
			}
			return wire.CaptureResult{ReservationID: in.ReservationID}, nil
		})
	env.OnActivity(billing.EnqueueDLQ, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in wire.DLQInput) (bool, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.dlq = append(f.dlq, in)
			return f.dlqErr == nil, f.dlqErr
		})
	env.OnWorkflow(Reconcile, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ workflow.Context, in wire.ReconcileInput, _ wire.ReconcileOptions) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.reconciles = append(f.reconciles, in)
			return nil
		})
}

func newSagaEnv(t *testing.T, f *fakeBilling) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(InferenceJob)
	env.RegisterWorkflow(Reconcile)
	env.RegisterActivity(billing)
	f.install(env)
	startAsJob(env, "job-1")
	return env
}

// startAsJob starts the next run under the job's own workflow id, as the
// client library does.
func startAsJob(env *testsuite.TestWorkflowEnvironment, jobID string) {
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: wire.InferenceWorkflowID(jobID)})
}

func sagaInput(policy wire.BillingPolicy) wire.InferenceInput {
	in := wire.InferenceInput{UserID: "u1", JobID: "job-1", Payload: wire.InferencePayload{ModelID: "gpt-4o", PromptTokens: 100, Prompt: "hi"}}
	if policy != "" {
		in.Options = &wire.InferenceOptions{BillingPolicy: policy}
	}
	return in
}

func inferenceFailure(t *testing.T, err error) (wire.Code, wire.InferenceFailure) {
	t.Helper()
	return failureDetails[wire.InferenceFailure](t, err)
}

func jobStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) wire.JobStatus {
	t.Helper()
	v, err := env.QueryWorkflow(wire.QueryState)
	if err != nil {
		t.Fatal(err)
	}
	var st wire.JobStatus
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func rejected(reason ledger.Reason) error {
	return temporal.NewNonRetryableApplicationError("rejected", string(wire.CodeBillingRejected), nil, string(reason))
}

func TestSagaHappyPathCapturesActualUsage(t *testing.T) {
	f := newFakeBilling()
	env := newSagaEnv(t, f)
	env.ExecuteWorkflow(InferenceJob, sagaInput(""))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res wire.InferenceResult
	_ = env.GetWorkflowResult(&res)
	if !res.Success || res.BillingPending || res.Data.Usage != usage {
		t.Fatalf("result = %+v", res)
	}
	if len(f.captures) != 1 || f.captures[0].Usage != usage || f.captures[0].ReservationID != "hold-job-1" || f.releases != 0 {
		t.Fatalf("captures = %+v, releases = %d", f.captures, f.releases)
	}
	st := jobStatus(t, env)
	want := []wire.JobState{wire.StateClaimed, wire.StateReserved, wire.StateInferenceRunning, wire.StateInferenceSucceeded, wire.StateCaptured}
	if st.State != wire.StateCaptured || len(st.History) != len(want) {
		t.Fatalf("status = %+v", st)
	}
	for i := range want {
		if st.History[i] != want[i] {
			t.Fatalf("history = %v, want %v", st.History, want)
		}
	}
}

func TestSagaValidation(t *testing.T) {
	tests := []struct {
		name, field string
		edit        func(*wire.InferenceInput)
	}{
		{"missing user", "userId", func(in *wire.InferenceInput) { in.UserID = " " }},
		{"missing job", "jobId", func(in *wire.InferenceInput) { in.JobID = "" }},
		{"model not allowlisted", "payload.modelId", func(in *wire.InferenceInput) { in.Payload.ModelID = "gpt-2" }},
		{"zero prompt tokens", "payload.promptTokens", func(in *wire.InferenceInput) { in.Payload.PromptTokens = 0 }},
		{"too many prompt tokens", "payload.promptTokens", func(in *wire.InferenceInput) { in.Payload.PromptTokens = 200_001 }},
		{"timeout too short", "options.timeoutMs", func(in *wire.InferenceInput) { in.Options = &wire.InferenceOptions{TimeoutMs: intp(999)} }},
		{"timeout too long", "options.timeoutMs", func(in *wire.InferenceInput) { in.Options = &wire.InferenceOptions{TimeoutMs: intp(120_001)} }},
		// (1<<58 + 30000) ms times a millisecond wraps time.Duration to
		// exactly 30 s: refused only because it is compared in milliseconds.
		{"timeout overflowing a duration", "options.timeoutMs", func(in *wire.InferenceInput) {
			in.Options = &wire.InferenceOptions{TimeoutMs: intp(1<<58 + 30_000)}
		}},
		// 9223372036855 ms is just past what a time.Duration holds: the horizon wrapped negative.
		{"reconcile horizon overflowing a duration", "options.reconcile.horizonMs", func(in *wire.InferenceInput) {
			in.Options = &wire.InferenceOptions{Reconcile: &wire.ReconcileOptions{HorizonMs: 9223372036855}}
		}},
		{"unknown policy", "options.billingPolicy", func(in *wire.InferenceInput) { in.Options = &wire.InferenceOptions{BillingPolicy: "free"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBilling()
			env := newSagaEnv(t, f)
			in := sagaInput("")
			tt.edit(&in)
			env.ExecuteWorkflow(InferenceJob, in)
			code, d := inferenceFailure(t, env.GetWorkflowError())
			if code != wire.CodeValidationFailed || d.RetryStrategy != wire.NoRetry || f.reserves != 0 || f.models != 0 {
				t.Fatalf("got %s/%s, reserves %d, models %d", code, d.RetryStrategy, f.reserves, f.models)
			}
			if len(d.InvalidFields) != 1 || d.InvalidFields[0].Field != tt.field || d.InvalidFields[0].Reason == "" {
				t.Fatalf("invalid fields %v, want one naming %s", d.InvalidFields, tt.field)
			}
		})
	}
}

func TestSagaReservation(t *testing.T) {
	tests := []struct {
		name         string
		err          func(int) error
		wantCode     wire.Code
		wantStrategy wire.RetryStrategy
		wantAttempts int
	}{
		{"insufficient credits", func(int) error { return rejected(ledger.ReasonInsufficientCredits) }, wire.CodeReservationFailed, wire.DLQOnly, 1},
		{"model disabled", func(int) error { return rejected(ledger.ReasonModelDisabled) }, wire.CodeReservationFailed, wire.DLQOnly, 1},
		{"ledger down", func(int) error { return errors.New("connection refused") }, wire.CodeInfraUnavailable, wire.RetryWithBackoff, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBilling()
			f.reserveErr = tt.err
			env := newSagaEnv(t, f)
			env.ExecuteWorkflow(InferenceJob, sagaInput(""))
			code, d := inferenceFailure(t, env.GetWorkflowError())
			if code != tt.wantCode || d.RetryStrategy != tt.wantStrategy || d.BillingUnresolved || d.State != wire.StateReservationFailed {
				t.Fatalf("got %s %+v", code, d)
			}
			if f.reserves != tt.wantAttempts || f.models != 0 {
				t.Fatalf("reserve attempts %d (want %d), model calls %d", f.reserves, tt.wantAttempts, f.models)
			}
			// A refusal held nothing; a reserve lost to the ledger may have
			// committed, so it is reconciled by its key.
			wantReconcile := tt.wantCode == wire.CodeInfraUnavailable
			if got := len(f.reconciles) == 1 && f.reconciles[0].Type == wire.DLQReserveUncertain &&
				f.reconciles[0].Reserve != nil && f.reconciles[0].Reserve.JobID == "job-1"; got != wantReconcile || len(f.reconciles) > 1 {
				t.Fatalf("reconciliations %+v, want a RESERVE_UNCERTAIN one: %v", f.reconciles, wantReconcile)
			}
		})
	}
	t.Run("ledger down, before reconcile-always", func(t *testing.T) {
		f := newFakeBilling()
		f.reserveErr = func(int) error { return errors.New("connection refused") }
		env := newSagaEnv(t, f)
		env.OnGetVersion(changeReconcileAlways, workflow.DefaultVersion, versionReconcileAlways).Return(workflow.DefaultVersion)
		env.ExecuteWorkflow(InferenceJob, sagaInput(""))
		if code, _ := inferenceFailure(t, env.GetWorkflowError()); code != wire.CodeInfraUnavailable || len(f.reconciles) != 0 || len(f.dlq) != 0 {
			t.Fatalf("got %s, reconciliations %+v, DLQ %+v: the old version reconciles nothing", code, f.reconciles, f.dlq)
		}
	})
	t.Run("ledger recovers within retries", func(t *testing.T) {
		f := newFakeBilling()
		f.reserveErr = func(n int) error {
			if n < 3 {
				return errors.New("timeout")
			}
			return nil
		}
		env := newSagaEnv(t, f)
		env.ExecuteWorkflow(InferenceJob, sagaInput(""))
		if err := env.GetWorkflowError(); err != nil || f.reserves != 3 {
			t.Fatalf("err = %v, reserves = %d", err, f.reserves)
		}
	})
}

func TestSagaModelFailureReleases(t *testing.T) {
	tests := []struct {
		code     wire.Code
		strategy wire.RetryStrategy
	}{
		{wire.CodeModelTimeout, wire.RetryWithBackoff},
		{wire.CodeModelRateLimited, wire.RetryWithBackoff},
		{wire.CodeModelServerError, wire.RetryWithBackoff},
		{wire.CodeModelClientError, wire.NoRetry},
	}
	for _, tt := range tests {
		t.Run(string(tt.code), func(t *testing.T) {
			f := newFakeBilling()
			f.modelErr = temporal.NewNonRetryableApplicationError("model", string(tt.code), nil)
			env := newSagaEnv(t, f)
			env.ExecuteWorkflow(InferenceJob, sagaInput(""))
			code, d := inferenceFailure(t, env.GetWorkflowError())
			if code != tt.code || d.RetryStrategy != tt.strategy || d.BillingUnresolved || d.State != wire.StateReleased {
				t.Fatalf("got %s %+v", code, d)
			}
			if f.models != 1 || f.releases != 1 || len(f.captures) != 0 || len(f.dlq) != 0 {
				t.Fatalf("models %d releases %d captures %d dlq %d", f.models, f.releases, len(f.captures), len(f.dlq))
			}
		})
	}
}

func TestSagaReleaseFailureGoesToReconciliation(t *testing.T) {
	f := newFakeBilling()
	f.modelErr = temporal.NewNonRetryableApplicationError("model", string(wire.CodeModelServerError), nil)
	f.releaseErr = func(int) error { return errors.New("ledger down") }
	env := newSagaEnv(t, f)
	env.ExecuteWorkflow(InferenceJob, sagaInput(""))
	code, d := inferenceFailure(t, env.GetWorkflowError())
	if code != wire.CodeModelServerError || !d.BillingUnresolved || d.State != wire.StateReconciliationRequired {
		t.Fatalf("got %s %+v", code, d)
	}
	if f.releases != 5 || len(f.dlq) != 1 || f.dlq[0].Type != "RELEASE_FAILED" || f.dlq[0].SchemaVersion != 1 {
		t.Fatalf("releases %d, dlq %+v", f.releases, f.dlq)
	}
	var payload map[string]any
	if err := json.Unmarshal(payloadJSON(t, f.dlq[0].Payload), &payload); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"occurredAt", "jobId", "userId", "modelId", "reservationId", "modelErrorCode", "releaseError"} {
		if payload[k] == nil {
			t.Errorf("RELEASE_FAILED payload lacks %s: %v", k, payload)
		}
	}
	if payload["service"] != "inference-saga" || payload["retriable"] != true || payload["modelErrorCode"] != string(wire.CodeModelServerError) {
		t.Errorf("payload = %v", payload)
	}
	if len(f.reconciles) != 1 || f.reconciles[0].Type != "RELEASE_FAILED" || f.reconciles[0].ReservationID != "hold-job-1" ||
		f.reconciles[0].Service != wire.DLQService || f.reconciles[0].UserID != payload["userId"] {
		t.Fatalf("reconciliation = %+v", f.reconciles)
	}
}

func TestSagaCaptureFailure(t *testing.T) {
	for _, policy := range []wire.BillingPolicy{wire.StrictBilling, wire.BestEffortBilling} {
		t.Run(string(policy), func(t *testing.T) {
			f := newFakeBilling()
			f.captureErr = func(int) error { return errors.New("ledger down") }
			env := newSagaEnv(t, f)
			env.ExecuteWorkflow(InferenceJob, sagaInput(policy))
			err := env.GetWorkflowError()
			if policy == wire.StrictBilling {
				code, d := inferenceFailure(t, err)
				if code != wire.CodeCaptureFailed || d.RetryStrategy != wire.DLQOnly || !d.BillingUnresolved {
					t.Fatalf("got %s %+v", code, d)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				var res wire.InferenceResult
				_ = env.GetWorkflowResult(&res)
				if !res.Success || !res.BillingPending || res.Data.Usage != usage {
					t.Fatalf("result = %+v", res)
				}
			}
			if len(f.captures) != 5 || len(f.dlq) != 1 || f.dlq[0].Type != "CAPTURE_FAILED" || f.releases != 0 {
				t.Fatalf("captures %d, dlq %+v, releases %d", len(f.captures), f.dlq, f.releases)
			}
			if len(f.reconciles) != 1 || f.reconciles[0].Usage != usage {
				t.Fatalf("reconciliation = %+v", f.reconciles)
			}
			if st := jobStatus(t, env); st.State != wire.StateReconciliationRequired {
				t.Fatalf("state = %s", st.State)
			}
		})
	}
}

func TestSagaCaptureRejectedIsNotRetried(t *testing.T) {
	f := newFakeBilling()
	f.captureErr = func(int) error { return rejected(ledger.ReasonUsageExceedsReservation) }
	env := newSagaEnv(t, f)
	env.ExecuteWorkflow(InferenceJob, sagaInput(""))
	code, _ := inferenceFailure(t, env.GetWorkflowError())
	if code != wire.CodeCaptureFailed || len(f.captures) != 1 {
		t.Fatalf("code %s, captures %d", code, len(f.captures))
	}
}

func TestSagaCancelDuringModelCallReleases(t *testing.T) {
	f := newFakeBilling()
	f.modelBlock = true
	env := newSagaEnv(t, f)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, time.Second)
	env.ExecuteWorkflow(InferenceJob, sagaInput(""))
	err := env.GetWorkflowError()
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		t.Fatalf("want cancelled, got %v", err)
	}
	if f.models != 1 || f.releases != 1 || len(f.captures) != 0 {
		t.Fatalf("models %d releases %d captures %d", f.models, f.releases, len(f.captures))
	}
	if st := jobStatus(t, env); st.State != wire.StateReleased {
		t.Fatalf("state = %s", st.State)
	}
}

func TestJobMachineTransitions(t *testing.T) {
	valid := [][2]wire.JobState{
		{wire.StateClaimed, wire.StateReserved}, {wire.StateClaimed, wire.StateReservationFailed},
		{wire.StateReserved, wire.StateInferenceRunning},
		{wire.StateInferenceRunning, wire.StateInferenceSucceeded}, {wire.StateInferenceRunning, wire.StateReleased},
		{wire.StateInferenceRunning, wire.StateReconciliationRequired},
		{wire.StateInferenceSucceeded, wire.StateCaptured}, {wire.StateInferenceSucceeded, wire.StateReconciliationRequired},
	}
	all := []wire.JobState{wire.StateClaimed, wire.StateReserved, wire.StateReservationFailed, wire.StateInferenceRunning, wire.StateInferenceSucceeded,
		wire.StateCaptured, wire.StateReleased, wire.StateReconciliationRequired}
	isValid := map[[2]wire.JobState]bool{}
	for _, v := range valid {
		isValid[v] = true
	}
	for _, from := range all {
		for _, to := range all {
			m := &jobMachine{state: from}
			err := m.transition(from, to)
			if (err == nil) != isValid[[2]wire.JobState{from, to}] {
				t.Errorf("%s → %s: err = %v", from, to, err)
			}
		}
	}
	m := newJobMachine()
	if err := m.transition(wire.StateReserved, wire.StateInferenceRunning); err == nil {
		t.Error("a transition from a state the job is not in must fail (CAS)")
	}
}

// conflictWorkflow drives the saga's transition guard into an invalid edge,
// as a bug would.
func conflictWorkflow(ctx workflow.Context, in wire.InferenceInput) error {
	j := &job{in: in, machine: newJobMachine(), rec: newSagaRecorder(ctx)}
	return j.transition(ctx, wire.StateInferenceSucceeded, wire.StateCaptured)
}

func TestSagaInvalidTransitionIsStateConflict(t *testing.T) {
	f := newFakeBilling()
	env := newSagaEnv(t, f)
	env.RegisterWorkflow(conflictWorkflow)
	env.ExecuteWorkflow(conflictWorkflow, sagaInput(""))
	code, d := inferenceFailure(t, env.GetWorkflowError())
	if code != wire.CodeStateConflict || d.RetryStrategy != wire.NoRetry {
		t.Fatalf("got %s %+v", code, d)
	}
	if len(f.dlq) != 1 || f.dlq[0].Type != "TRANSITION_FAILED" {
		t.Fatalf("dlq = %+v", f.dlq)
	}
	var payload map[string]any
	_ = json.Unmarshal(payloadJSON(t, f.dlq[0].Payload), &payload)
	if payload["attemptedFrom"] != string(wire.StateInferenceSucceeded) || payload["attemptedTo"] != string(wire.StateCaptured) || payload["retriable"] != false {
		t.Fatalf("payload = %v", payload)
	}
}

func TestRetryStrategyFor(t *testing.T) {
	want := map[wire.Code]wire.RetryStrategy{
		wire.CodeModelTimeout: wire.RetryWithBackoff, wire.CodeModelRateLimited: wire.RetryWithBackoff, wire.CodeModelServerError: wire.RetryWithBackoff,
		wire.CodeInfraUnavailable: wire.RetryWithBackoff, wire.CodeModelClientError: wire.NoRetry, wire.CodeValidationFailed: wire.NoRetry,
		wire.CodeDuplicateJob: wire.NoRetry, wire.CodeStateConflict: wire.NoRetry, wire.CodeCaptureFailed: wire.DLQOnly, wire.CodeReservationFailed: wire.DLQOnly,
	}
	for code, s := range want {
		if got := RetryStrategyFor(code); got != s {
			t.Errorf("RetryStrategyFor(%s) = %s, want %s", code, got, s)
		}
	}
}

func TestModelErrorCode(t *testing.T) {
	tests := []struct {
		err  error
		want wire.Code
	}{
		{temporal.NewApplicationError("x", string(wire.CodeModelRateLimited)), wire.CodeModelRateLimited},
		{temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil), wire.CodeModelTimeout},
		{errors.New("weird"), wire.CodeModelServerError},
	}
	for _, tt := range tests {
		if got := modelErrorCode(tt.err); got != tt.want {
			t.Errorf("modelErrorCode(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

// BillingState shows CLAIMED from the start until the job reaches a state an
// operator filters on (a final one, or RECONCILIATION_REQUIRED), which is
// then upserted at once; transient steps are never upserted (a stuck job is
// Running with CLAIMED). Runs of the default version (recorded before the
// change) upsert every state, once per workflow task.
func TestSagaBillingStateSearchAttribute(t *testing.T) {
	tests := []struct {
		name      string
		cli       bool // started without JobId/BillingState (e.g. the CLI)
		legacy    bool // the run took workflow.DefaultVersion of saga-v3 and sparseStateChange
		setup     func(f *fakeBilling)
		want      []string
		atModel   []string // upserts done when the model call starts
		atDLQ     []string // upserts done when the DLQ record is written
		wantError bool
	}{
		{name: "captured", want: []string{"CAPTURED"}, atModel: []string{}},
		{name: "captured, started by the CLI", cli: true, want: []string{"CLAIMED", "CAPTURED"}, atModel: []string{"CLAIMED"}},
		{name: "model failed, released", setup: func(f *fakeBilling) {
			f.modelErr = temporal.NewNonRetryableApplicationError("model", string(wire.CodeModelServerError), nil)
		}, want: []string{"RELEASED"}, atModel: []string{}, wantError: true},
		{name: "reservation refused", setup: func(f *fakeBilling) {
			f.reserveErr = func(int) error { return rejected(ledger.ReasonInsufficientCredits) }
		}, want: []string{"RESERVATION_FAILED"}, wantError: true},
		{name: "capture failed, stuck in reconciliation", setup: func(f *fakeBilling) {
			f.captureErr = func(int) error { return errors.New("ledger down") }
		}, want: []string{"RECONCILIATION_REQUIRED"}, atModel: []string{}, atDLQ: []string{"RECONCILIATION_REQUIRED"}, wantError: true},
		{name: "default version: every state", legacy: true,
			want: []string{"INFERENCE_RUNNING", "INFERENCE_SUCCEEDED", "CAPTURED"}, atModel: []string{"INFERENCE_RUNNING"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBilling()
			if tt.setup != nil {
				tt.setup(f)
			}
			env := newSagaEnv(t, f)
			if !tt.cli {
				if err := env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(
					JobIDKey.ValueSet("job-1"), BillingStateKey.ValueSet(string(wire.StateClaimed)))); err != nil {
					t.Fatal(err)
				}
			}
			if tt.legacy {
				env.OnGetVersion(changeSagaV3, workflow.DefaultVersion, versionSagaV3).Return(workflow.DefaultVersion)
				env.OnGetVersion(sparseStateChange, workflow.DefaultVersion, sparseStateVersion).Return(workflow.DefaultVersion)
			}
			states := []string{}
			env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
				if v, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(BillingStateKey); ok {
					states = append(states, v)
				}
			}).Return(nil)
			var atModel, atDLQ []string
			env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
				switch info.ActivityType.Name {
				case wire.ActivityCallModel:
					atModel = slices.Clone(states)
				case wire.ActivityEnqueueDLQ:
					atDLQ = slices.Clone(states)
				}
			})
			env.ExecuteWorkflow(InferenceJob, sagaInput(""))
			if err := env.GetWorkflowError(); (err != nil) != tt.wantError {
				t.Fatalf("workflow error = %v, want error: %v", err, tt.wantError)
			}
			if !slices.Equal(states, tt.want) {
				t.Errorf("BillingState upserts = %v, want %v", states, tt.want)
			}
			if !slices.Equal(atModel, tt.atModel) {
				t.Errorf("BillingState upserts when the model call started = %v, want %v", atModel, tt.atModel)
			}
			if !slices.Equal(atDLQ, tt.atDLQ) {
				t.Errorf("BillingState upserts when the DLQ record was written = %v, want %v", atDLQ, tt.atDLQ)
			}
		})
	}
}

// payloadJSON is a DLQ payload as the activity stores it, for checks by key.
func payloadJSON(t *testing.T, p wire.DLQPayload) []byte {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A failed release whose DLQ record cannot be written still gets its
// reconciliation (which writes the record) under reconcile-always; before
// that change the job ended with neither.
func TestReleaseReconciledWithoutItsRecord(t *testing.T) {
	for _, tt := range []struct {
		name    string
		version workflow.Version
		want    int
	}{
		{"reconcile-always", versionReconcileAlways, 1},
		{"before reconcile-always", workflow.DefaultVersion, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBilling()
			f.modelErr = temporal.NewNonRetryableApplicationError("model", string(wire.CodeModelServerError), nil)
			f.releaseErr = func(int) error { return errors.New("ledger down") }
			f.dlqErr = errors.New("ledger down")
			env := newSagaEnv(t, f)
			env.OnGetVersion(changeReconcileAlways, workflow.DefaultVersion, versionReconcileAlways).Return(tt.version)
			env.ExecuteWorkflow(InferenceJob, sagaInput(""))
			if code, _ := inferenceFailure(t, env.GetWorkflowError()); code != wire.CodeModelServerError {
				t.Fatalf("code %s", code)
			}
			if len(f.reconciles) != tt.want || (tt.want == 1 && (f.reconciles[0].Type != wire.DLQReleaseFailed || f.reconciles[0].ReservationID == "")) {
				t.Fatalf("reconciliations %+v, want %d RELEASE_FAILED", f.reconciles, tt.want)
			}
		})
	}
}
