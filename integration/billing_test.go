package integration

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/ledger/ledgerfault"
	"github.com/inferflow/inferflow/internal/ledger/ledgertest"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/wire"
)

// testModel is allowlisted and priced in the tests' catalog; the fake model
// server answers for it.
var testModel = ledger.Model{ID: openaitest.DefaultCompletionModel, PromptPer1K: 1000, CompletionPer1K: 2000, MaxCompletionTokens: 500}

type billingEnv struct {
	fake   *openaitest.Server
	ledger *ledgerfault.Ledger
	client *inferflow.Client
}

func newBillingEnv(t *testing.T, backend string) *billingEnv {
	return newBillingEnvWith(t, backend, nil)
}

// newBillingEnvWith is newBillingEnv with the worker's ledger wrapped (a
// test's fault injection), when wrap is not nil.
func newBillingEnvWith(t *testing.T, backend string, wrap func(ledger.Ledger) ledger.Ledger) *billingEnv {
	skipShort(t)
	dsn := filepath.Join(t.TempDir(), "ledger.db")
	if backend == "postgres" {
		dsn = ledgertest.PostgresDSN(t)
	}
	l, err := ledger.Open(context.Background(), ledger.Config{DSN: dsn, Catalog: []ledger.Model{testModel}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	fake := openaitest.New()
	t.Cleanup(fake.Close)
	models, err := provider.New(fake.Config())
	if err != nil {
		t.Fatal(err)
	}
	var seen ledger.Ledger = l
	if wrap != nil {
		seen = wrap(l)
	}
	fl := ledgerfault.Wrap(seen, 0, 0)
	c := dial(t)
	queue := uniqueQueue(t)
	startWorker(t, c, queue, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Models: models, Ledger: fl, Environment: "test"})
	})
	return &billingEnv{fake: fake, ledger: fl, client: &inferflow.Client{Temporal: c, TaskQueue: queue}}
}

// faults makes the next captures and releases fail as infrastructure errors.
func (e *billingEnv) faults(captures, releases int) {
	e.ledger.SetFailures(captures, releases)
}

func (e *billingEnv) credit(t *testing.T, user string, amount int64) {
	if err := e.ledger.Credit(context.Background(), user, amount, "seed-"+user); err != nil {
		t.Fatal(err)
	}
}

func job(user, id string, policy wire.BillingPolicy) wire.InferenceInput {
	return wire.InferenceInput{UserID: user, JobID: id,
		Payload: wire.InferencePayload{ModelID: testModel.ID, PromptTokens: 200, Prompt: "Say hi"},
		Options: &wire.InferenceOptions{BillingPolicy: policy, Reconcile: &wire.ReconcileOptions{InitialBackoffMs: 200, MaxBackoffMs: 1000}}}
}

func (e *billingEnv) run(t *testing.T, in wire.InferenceInput) (wire.InferenceResult, error) {
	t.Helper()
	ctx := ctxFor(t, 2*time.Minute)
	run, err := e.client.StartInference(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	var res wire.InferenceResult
	err = run.Get(ctx, &res)
	return res, err
}

func wantInferenceFailure(t *testing.T, err error, code wire.Code) wire.InferenceFailure {
	t.Helper()
	f, ok := inferflow.AsFailure(err)
	if !ok || f.Code != code {
		t.Fatalf("want %s, got %v", code, err)
	}
	var d wire.InferenceFailure
	if err := f.Details(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *billingEnv) balance(t *testing.T, user string) ledger.Balance {
	b, err := e.ledger.Balance(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *billingEnv) audit(t *testing.T) {
	rep, err := e.ledger.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		t.Fatalf("ledger invariants violated: %v", rep.Violations)
	}
}

// waitReconciled waits for the job's reconciliation workflow and returns the
// job state it recorded in the ledger.
func (e *billingEnv) waitReconciled(t *testing.T, jobID string) string {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	if err := e.client.Temporal.GetWorkflow(ctx, wire.ReconcileWorkflowID(jobID), "").Get(ctx, nil); err != nil {
		t.Fatalf("reconciliation of %s: %v", jobID, err)
	}
	state, err := e.ledger.JobState(ctx, jobID)
	if err != nil {
		t.Fatal(err)
	}
	return state
}

var backends = []string{"sqlite", "postgres"}

func TestBillingFullSaga(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newBillingEnv(t, backend)
			e.credit(t, "alice", 10_000_000)
			e.fake.ForCompletion().SetDefault(openaitest.Text("hello").WithUsage(provider.Usage{PromptTokens: 180, CompletionTokens: 20, TotalTokens: 200}))
			res, err := e.run(t, job("alice", "full-"+backend, ""))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Success || res.BillingPending || res.Data.Usage.TotalTokens != 200 {
				t.Fatalf("result = %+v", res)
			}
			// Charged at the locked price for the ACTUAL usage: 180 prompt + 20 completion tokens.
			want := testModel.Cost(180, 20)
			if b := e.balance(t, "alice"); b.Spent != want || b.Held != 0 || b.Available != 10_000_000-want {
				t.Fatalf("balance = %+v, want spent %d", b, want)
			}
			e.audit(t)
		})
	}
}

func TestBillingDuplicateStart(t *testing.T) {
	e := newBillingEnv(t, "sqlite")
	e.credit(t, "bob", 10_000_000)
	if _, err := e.run(t, job("bob", "dup", "")); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.StartInference(ctxFor(t, 10*time.Second), job("bob", "dup", ""))
	var dup *inferflow.DuplicateJobError
	if !errors.As(err, &dup) {
		t.Fatalf("second start: %v, want DUPLICATE_JOB", err)
	}
	if n := e.fake.RequestsFor(openaitest.KindCompletion); n != 1 {
		t.Fatalf("model called %d times", n)
	}
	holds, _ := e.ledger.Holds(context.Background(), "bob")
	if len(holds) != 1 {
		t.Fatalf("%d holds for one job", len(holds))
	}
}

func TestBillingInsufficientCredits(t *testing.T) {
	e := newBillingEnv(t, "sqlite")
	e.credit(t, "carol", 10)
	_, err := e.run(t, job("carol", "poor", ""))
	d := wantInferenceFailure(t, err, wire.CodeReservationFailed)
	if d.RetryStrategy != wire.DLQOnly || e.fake.Requests() != 0 {
		t.Fatalf("details %+v, model requests %d", d, e.fake.Requests())
	}
}

func TestBillingModelTimeoutReleases(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newBillingEnv(t, backend)
			e.credit(t, "dave", 10_000_000)
			e.fake.ForCompletion().SetDefault(openaitest.Hang())
			in := job("dave", "timeout-"+backend, "")
			in.Options.TimeoutMs = intp(1000)
			_, err := e.run(t, in)
			d := wantInferenceFailure(t, err, wire.CodeModelTimeout)
			if d.RetryStrategy != wire.RetryWithBackoff || d.BillingUnresolved || d.State != wire.StateReleased {
				t.Fatalf("details = %+v", d)
			}
			if b := e.balance(t, "dave"); b.Available != 10_000_000 || b.Held != 0 || b.Spent != 0 {
				t.Fatalf("balance = %+v: the hold was not released", b)
			}
			if err := e.fake.WaitAborted(ctxFor(t, 10*time.Second), 1); err != nil {
				t.Fatalf("the timed-out call was not aborted: %v", err)
			}
			e.audit(t)
		})
	}
}

func TestBillingCaptureFailureReconciled(t *testing.T) {
	for _, backend := range backends {
		for _, policy := range []wire.BillingPolicy{wire.StrictBilling, wire.BestEffortBilling} {
			t.Run(backend+"/"+string(policy), func(t *testing.T) {
				e := newBillingEnv(t, backend)
				e.credit(t, "erin", 10_000_000)
				e.faults(6, 0) // the saga's 5 attempts and the first reconciliation
				jobID := "capfail-" + backend + "-" + string(policy)
				res, err := e.run(t, job("erin", jobID, policy))
				if policy == wire.StrictBilling {
					d := wantInferenceFailure(t, err, wire.CodeCaptureFailed)
					if d.RetryStrategy != wire.DLQOnly || !d.BillingUnresolved {
						t.Fatalf("details = %+v", d)
					}
				} else if err != nil || !res.BillingPending {
					t.Fatalf("best effort: res %+v, err %v", res, err)
				}
				if state := e.waitReconciled(t, jobID); state != string(wire.StateCaptured) {
					t.Fatalf("job state after reconciliation = %q", state)
				}
				rec, err := e.ledger.DLQ(context.Background(), "CAPTURE_FAILED", jobID, 1)
				if err != nil || rec.Status != ledger.DLQResolved {
					t.Fatalf("DLQ record = %+v, %v", rec, err)
				}
				if b := e.balance(t, "erin"); b.Held != 0 || b.Spent == 0 {
					t.Fatalf("balance = %+v", b)
				}
				e.audit(t)
			})
		}
	}
}

func TestBillingReleaseFailureReconciled(t *testing.T) {
	e := newBillingEnv(t, "sqlite")
	e.credit(t, "frank", 10_000_000)
	e.fake.ForCompletion().SetDefault(openaitest.Status(500))
	e.faults(0, 6)
	_, err := e.run(t, job("frank", "relfail", ""))
	d := wantInferenceFailure(t, err, wire.CodeModelServerError)
	if !d.BillingUnresolved || d.State != wire.StateReconciliationRequired {
		t.Fatalf("details = %+v", d)
	}
	if state := e.waitReconciled(t, "relfail"); state != string(wire.StateReleased) {
		t.Fatalf("job state after reconciliation = %q", state)
	}
	if b := e.balance(t, "frank"); b.Available != 10_000_000 || b.Held != 0 {
		t.Fatalf("balance = %+v", b)
	}
	e.audit(t)
}

func TestBillingStuckJobsAreFoundByBillingState(t *testing.T) {
	e := newBillingEnv(t, "sqlite")
	e.credit(t, "gina", 10_000_000)
	e.faults(1000, 0) // never recovers while the saga runs
	in := job("gina", "stuck", "")
	in.Options.Reconcile = &wire.ReconcileOptions{InitialBackoffMs: 60_000}
	_, err := e.run(t, in)
	wantInferenceFailure(t, err, wire.CodeCaptureFailed)
	ctx := ctxFor(t, 30*time.Second)
	query := `BillingState="RECONCILIATION_REQUIRED" AND JobId="stuck"`
	for {
		resp, err := e.client.Temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: server.Namespace, Query: query})
		if err == nil && resp.GetCount() >= 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no workflow matches %s", query)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Cancelling a job during its model call aborts the call and still releases
// the hold: compensation runs in a disconnected context on the real server.
func TestBillingCancelDuringModelCallReleases(t *testing.T) {
	e := newBillingEnv(t, "sqlite")
	e.credit(t, "hana", 10_000_000)
	e.fake.ForCompletion().SetDefault(openaitest.Hang())
	ctx := ctxFor(t, time.Minute)
	run, err := e.client.StartInference(ctx, job("hana", "cancel-me", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.fake.WaitRequests(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if b := e.balance(t, "hana"); b.Held == 0 {
		t.Fatalf("no hold while the model runs: %+v", b)
	}
	if err := e.client.Temporal.CancelWorkflow(ctx, run.GetID(), run.GetRunID()); err != nil {
		t.Fatal(err)
	}
	var canceled *temporal.CanceledError
	if err := run.Get(ctx, nil); !errors.As(err, &canceled) {
		t.Fatalf("want a cancelled job, got %v", err)
	}
	if b := e.balance(t, "hana"); b.Available != 10_000_000 || b.Held != 0 || b.Spent != 0 {
		t.Fatalf("balance after cancel = %+v: the hold was not released", b)
	}
	if err := e.fake.WaitAborted(ctxFor(t, 20*time.Second), 1); err != nil {
		t.Fatalf("the model call was not aborted: %v", err)
	}
	e.audit(t)
}
