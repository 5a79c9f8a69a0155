package integration

import (
	"context"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/wire"
)

// A job runs once even when Temporal would start it again: a start with
// reuse policy AllowDuplicate after the first run closed, and a start under
// a workflow id of the caller's own, each end with a clean DUPLICATE_JOB;
// the model is called once and the user charged once, on both backends.
func TestBillingSecondRunRefused(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newBillingEnv(t, backend)
			e.credit(t, "carol", 10_000_000)
			in := job("carol", "once-"+backend, "")
			if _, err := e.run(t, in); err != nil {
				t.Fatal(err)
			}
			spent := e.balance(t, "carol").Spent
			for _, tt := range []struct {
				name, id string
				reason   string
			}{
				{"AllowDuplicate reuse policy", wire.InferenceWorkflowID(in.JobID), wire.ReasonJobClaimed},
				{"another workflow id", "mine-" + in.JobID, wire.ReasonWorkflowIDMismatch},
			} {
				ctx := ctxFor(t, time.Minute)
				run, err := e.client.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
					ID: tt.id, TaskQueue: e.client.TaskQueue,
					WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
				}, wire.WorkflowInferenceJob, in)
				if err != nil {
					t.Fatalf("%s: start: %v", tt.name, err)
				}
				d := wantInferenceFailure(t, run.Get(ctx, nil), wire.CodeDuplicateJob)
				if d.Reason != tt.reason || d.RetryStrategy != wire.NoRetry || d.BillingUnresolved {
					t.Fatalf("%s: details %+v", tt.name, d)
				}
			}
			if n := e.fake.RequestsFor(openaitest.KindCompletion); n != 1 {
				t.Fatalf("model called %d times for one job", n)
			}
			holds, _ := e.ledger.Holds(context.Background(), "carol")
			if b := e.balance(t, "carol"); len(holds) != 1 || b.Spent != spent || b.Held != 0 {
				t.Fatalf("%d holds, balance %+v (spent after the first run %d)", len(holds), b, spent)
			}
			dlq, _ := e.ledger.ListDLQ(context.Background(), "")
			if len(dlq) != 0 {
				t.Fatalf("DLQ records after refused runs: %+v", dlq)
			}
			e.audit(t)
		})
	}
}

// The model call carries max_tokens = the hold's maximum completion. A model
// that answers past it anyway is billed exactly the hold, the caller gets
// the answer, and a USAGE_OVERAGE record tells an operator: no path ends
// with an unbilled call and no record.
func TestBillingOverlongAnswerBilledAtHold(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newBillingEnv(t, backend)
			e.credit(t, "dave", 10_000_000)
			over := provider.Usage{PromptTokens: 200, CompletionTokens: testModel.MaxCompletionTokens + 300, TotalTokens: 200 + testModel.MaxCompletionTokens + 300}
			e.fake.ForCompletion().SetDefault(openaitest.Text("a very long answer").WithUsage(over))
			in := job("dave", "long-"+backend, "")
			res, err := e.run(t, in)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Success || res.BillingPending || res.Data.Usage.TotalTokens != over.TotalTokens {
				t.Fatalf("result = %+v", res)
			}
			reqs := e.fake.Received()
			if len(reqs) != 1 || reqs[0].MaxTokens != testModel.MaxCompletionTokens {
				t.Fatalf("requests %d, max_tokens %d; want %d", len(reqs), reqs[0].MaxTokens, testModel.MaxCompletionTokens)
			}
			hold := ledger.ExpectedCost(testModel, in.Payload.PromptTokens)
			if b := e.balance(t, "dave"); b.Spent != hold || b.Held != 0 {
				t.Fatalf("balance = %+v, want the hold %d spent", b, hold)
			}
			rec, err := e.ledger.DLQ(context.Background(), string(wire.DLQUsageOverage), in.JobID, wire.DLQSchemaVersion)
			if err != nil || rec.Status != ledger.DLQOpen {
				t.Fatalf("USAGE_OVERAGE record = %+v, %v", rec, err)
			}
			if _, err := e.ledger.DLQ(context.Background(), string(wire.DLQCaptureFailed), in.JobID, wire.DLQSchemaVersion); err == nil {
				t.Fatal("a CAPTURE_FAILED record for a captured job")
			}
			e.audit(t)
		})
	}
}
