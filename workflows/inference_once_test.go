package workflows

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/inferflow/inferflow/wire"
)

// eventLog records the evt of every log entry (the saga's log events).
type eventLog struct {
	mu   sync.Mutex
	evts []string
}

func (l *eventLog) add(kv []any) {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "evt" {
			l.mu.Lock()
			l.evts = append(l.evts, fmt.Sprint(kv[i+1]))
			l.mu.Unlock()
		}
	}
}

func (l *eventLog) Debug(_ string, kv ...any) { l.add(kv) }
func (l *eventLog) Info(_ string, kv ...any)  { l.add(kv) }
func (l *eventLog) Warn(_ string, kv ...any)  { l.add(kv) }
func (l *eventLog) Error(_ string, kv ...any) { l.add(kv) }

func (l *eventLog) has(evt string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.evts, evt)
}

// A job runs once, however it is started: a second run (the claim names
// another run) or a run under a foreign workflow id is refused with
// DUPLICATE_JOB before anything is reserved or the model called; a ledger
// unreachable at the claim is INFRA_UNAVAILABLE; a claim that fails and
// then succeeds within its retries (the same run) goes on.
func TestSagaRunsOncePerJob(t *testing.T) {
	down := func(int) error { return errors.New("ledger unreachable") }
	tests := []struct {
		name       string
		workflowID string            // "" = the job's own
		claims     map[string]string // claims already in the ledger
		claimErr   func(attempt int) error
		wantCode   wire.Code // "" = success
		wantReason string
		wantClaims int
		wantModels int
	}{
		{name: "first run", wantClaims: 1, wantModels: 1},
		{name: "second run", claims: map[string]string{"job-1": "run-of-the-first-start"},
			wantCode: wire.CodeDuplicateJob, wantReason: wire.ReasonJobClaimed, wantClaims: 1},
		{name: "foreign workflow id", workflowID: "my-own-id-for-job-1",
			wantCode: wire.CodeDuplicateJob, wantReason: wire.ReasonWorkflowIDMismatch},
		{name: "another job's workflow id", workflowID: wire.InferenceWorkflowID("job-2"),
			wantCode: wire.CodeDuplicateJob, wantReason: wire.ReasonWorkflowIDMismatch},
		{name: "ledger down at the claim", claimErr: down, wantCode: wire.CodeInfraUnavailable, wantClaims: 5},
		{name: "ledger back within the retries", claimErr: func(n int) error {
			if n < 3 {
				return down(n)
			}
			return nil
		}, wantClaims: 3, wantModels: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBilling()
			for k, v := range tt.claims {
				f.claims[k] = v
			}
			f.claimErr = tt.claimErr
			logs := &eventLog{}
			var s testsuite.WorkflowTestSuite
			s.SetLogger(logs)
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(InferenceJob)
			env.RegisterWorkflow(Reconcile)
			env.RegisterActivity(billing)
			f.install(env)
			startAsJob(env, "job-1")
			if tt.workflowID != "" {
				env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: tt.workflowID})
			}
			env.ExecuteWorkflow(InferenceJob, sagaInput(""))
			err := env.GetWorkflowError()
			if f.claimCalls != tt.wantClaims || f.models != tt.wantModels {
				t.Fatalf("claims %d, model calls %d; want %d, %d", f.claimCalls, f.models, tt.wantClaims, tt.wantModels)
			}
			if tt.wantCode == "" {
				if err != nil || len(f.captures) != 1 {
					t.Fatalf("err %v, captures %d", err, len(f.captures))
				}
				if len(f.claims) != 1 || f.claims["job-1"] == "" {
					t.Fatalf("claims = %v", f.claims)
				}
				return
			}
			code, d := inferenceFailure(t, err)
			if code != tt.wantCode || d.Reason != tt.wantReason || d.JobID != "job-1" || d.BillingUnresolved {
				t.Fatalf("got %s %+v; want %s reason %q", code, d, tt.wantCode, tt.wantReason)
			}
			if d.RetryStrategy != RetryStrategyFor(tt.wantCode) {
				t.Errorf("retry strategy %s", d.RetryStrategy)
			}
			// Refused before anything was held: nothing to settle, no record.
			if f.reserves != 0 || len(f.captures) != 0 || f.releases != 0 || len(f.dlq) != 0 {
				t.Fatalf("reserves %d captures %d releases %d dlq %d", f.reserves, len(f.captures), f.releases, len(f.dlq))
			}
			if blocked := logs.has("DUPLICATE_JOB_BLOCKED"); blocked != (tt.wantCode == wire.CodeDuplicateJob) {
				t.Errorf("DUPLICATE_JOB_BLOCKED logged = %v; events %v", blocked, logs.evts)
			}
			if tt.claims != nil && f.claims["job-1"] != tt.claims["job-1"] {
				t.Errorf("the refused run took the claim: %v", f.claims)
			}
		})
	}
}

// Every billed call is capped at the hold's maximum completion.
func TestSagaModelCallCappedAtHold(t *testing.T) {
	f := newFakeBilling()
	env := newSagaEnv(t, f)
	env.ExecuteWorkflow(InferenceJob, sagaInput(""))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(f.modelInputs) != 1 || f.modelInputs[0].MaxTokens != fakeMaxCompletion {
		t.Fatalf("model inputs = %+v; want maxTokens %d", f.modelInputs, fakeMaxCompletion)
	}
}

// A model that answers past the hold (it ignored max_tokens, or the prompt
// outgrew its estimate) is billed the hold, never left unbilled, and the
// overage is on record (USAGE_OVERAGE) for an operator; the caller gets the
// answer. If the capture then fails, reconciliation captures the capped usage.
func TestSagaUsageOverageBillsTheHold(t *testing.T) {
	over := wire.Usage{PromptTokens: 100, CompletionTokens: 900, TotalTokens: 1000} // hold bound: 100 + 500
	capped := wire.Usage{PromptTokens: 100, CompletionTokens: fakeMaxCompletion, TotalTokens: 100 + fakeMaxCompletion}
	for _, captureFails := range []bool{false, true} {
		t.Run(map[bool]string{false: "captured", true: "capture fails"}[captureFails], func(t *testing.T) {
			f := newFakeBilling()
			f.modelUsage = &over
			if captureFails {
				f.captureErr = func(int) error { return errors.New("ledger down") }
			}
			env := newSagaEnv(t, f)
			env.ExecuteWorkflow(InferenceJob, sagaInput(wire.BestEffortBilling))
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var res wire.InferenceResult
			_ = env.GetWorkflowResult(&res)
			if !res.Success || res.Data.Usage != over || res.BillingPending != captureFails {
				t.Fatalf("result = %+v", res)
			}
			if len(f.captures) == 0 || f.captures[0].Usage != capped {
				t.Fatalf("captures = %+v; want usage %+v", f.captures, capped)
			}
			var overage *wire.DLQInput
			for i := range f.dlq {
				if f.dlq[i].Type == wire.DLQUsageOverage {
					overage = &f.dlq[i]
				}
			}
			if overage == nil {
				t.Fatalf("no USAGE_OVERAGE record in %+v", f.dlq)
			}
			p := overage.Payload
			if *p.ActualUsage != over || *p.BilledUsage != capped || p.MaxTokens != 100+fakeMaxCompletion || p.ReservationID != "hold-job-1" || p.Retriable {
				t.Fatalf("overage payload = %+v", p)
			}
			wantReconciles := 0
			if captureFails {
				wantReconciles = 1
				if f.reconciles[0].Usage != capped {
					t.Fatalf("reconciliation captures %+v; want %+v", f.reconciles[0].Usage, capped)
				}
			}
			if len(f.reconciles) != wantReconciles {
				t.Fatalf("reconciles = %+v", f.reconciles)
			}
		})
	}
}
