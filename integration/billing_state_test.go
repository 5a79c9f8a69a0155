package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/inferflow/inferflow/internal/provider/openaitest"
)

// A job in the middle of the saga (here: its model call hangs) is found as
// Running with BillingState CLAIMED, the transient steps are not upserted,
// and the final state is visible once it ends (CONTRACT.md, Job states).
func TestBillingStateWhileInSagaAndAtTheEnd(t *testing.T) {
	e := newBillingEnv(t, "sqlite")
	e.credit(t, "ivy", 10_000_000)
	e.fake.ForCompletion().SetDefault(openaitest.Hang())
	ctx := ctxFor(t, time.Minute)
	run, err := e.client.StartInference(ctx, job("ivy", "in-saga", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.fake.WaitRequests(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitVisible(ctx, t, e, `ExecutionStatus="Running" AND BillingState="CLAIMED" AND JobId="in-saga"`)
	// Give an upsert of the model call's step time to reach visibility.
	time.Sleep(time.Second)
	for _, q := range []string{`BillingState="INFERENCE_RUNNING" AND JobId="in-saga"`, `BillingState="RESERVED" AND JobId="in-saga"`} {
		if n := countVisible(ctx, t, e, q); n != 0 {
			t.Fatalf("%d workflows match %s: a transient state was upserted", n, q)
		}
	}
	if n := countVisible(ctx, t, e, `ExecutionStatus="Running" AND BillingState="CLAIMED" AND JobId="in-saga"`); n != 1 {
		t.Fatalf("the job in its model call is no longer Running with CLAIMED (%d matches)", n)
	}

	if err := e.client.Temporal.CancelWorkflow(ctx, run.GetID(), run.GetRunID()); err != nil {
		t.Fatal(err)
	}
	var canceled *temporal.CanceledError
	if err := run.Get(ctx, nil); !errors.As(err, &canceled) {
		t.Fatalf("want cancellation, got %v", err)
	}
	waitVisible(ctx, t, e, `ExecutionStatus="Canceled" AND BillingState="RELEASED" AND JobId="in-saga"`)
}

func countVisible(ctx context.Context, t *testing.T, e *billingEnv, query string) int64 {
	t.Helper()
	resp, err := e.client.Temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: server.Namespace, Query: query})
	if err != nil {
		t.Fatalf("count %s: %v", query, err)
	}
	return resp.GetCount()
}

func waitVisible(ctx context.Context, t *testing.T, e *billingEnv, query string) {
	t.Helper()
	for countVisible(ctx, t, e, query) < 1 {
		select {
		case <-ctx.Done():
			t.Fatalf("no workflow matches %s", query)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
