package integration

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/worker"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/voicesignal"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/workflows"
)

// A realtime session as the voice process drives it: started by
// signal-with-start, a turn, a response held by the reserve-response update
// and captured from its usage, a continue-as-new in between, closed by the
// Signaller; the summary query, the result, the ledger and the search
// attributes agree.
func TestVoiceSessionOnServer(t *testing.T) {
	skipShort(t)
	ctx := ctxFor(t, 2*time.Minute)
	l, err := ledger.Open(ctx, ledger.Config{DSN: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	user := fmt.Sprintf("voice-user-%d", time.Now().UnixNano())
	const credit = 1_000_000
	if err := l.Credit(ctx, user, credit, "seed-"+user); err != nil {
		t.Fatal(err)
	}
	c := dial(t)
	queue := uniqueQueue(t)
	startWorker(t, c, queue, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Ledger: l, Environment: "test"})
	})

	session := fmt.Sprintf("call-%d", time.Now().UnixNano())
	sig, err := voicesignal.New(voicesignal.Config{Client: c, TaskQueue: queue,
		Session:       workflows.VoiceSessionInput{SessionID: session, UserID: user, Options: &workflows.VoiceOptions{MaxSignalsPerRun: 3}},
		UpdateTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	send := func(s workflows.VoiceSignal) {
		t.Helper()
		if err := sig.Send(s); err != nil {
			t.Fatal(err)
		}
	}
	send(&workflows.TurnStarted{TurnID: "t1"})
	send(&workflows.GateSnapshot{TurnState: "speaking", FramesTotal: 50})
	send(&workflows.TurnEnded{TurnID: "t1", DurationMs: 1500, FramesAdmitted: 75})
	res, err := sig.ReserveResponse(ctx, workflows.ReserveResponseRequest{ResponseID: "r1", TurnID: "t1", EstimatedInputTokens: 1000})
	if err != nil {
		t.Fatal(err)
	}
	model := ledger.DefaultCatalog()[0]
	if model.ID != workflows.DefaultVoiceModelID {
		t.Fatalf("catalog's first model is %s", model.ID)
	}
	if !res.OK || res.ReservationID == "" || res.HeldAmount != ledger.ExpectedCost(model, 1000) {
		t.Fatalf("reserve-response = %+v", res)
	}
	send(&workflows.ResponseStarted{ResponseID: "r1", TurnID: "t1"})
	send(&workflows.Interruption{ResponseID: "r1"})
	send(&workflows.ResponseDone{ResponseID: "r1", Status: workflows.ResponseCompleted,
		Usage: workflows.VoiceUsage{InputTokens: 900, OutputTokens: 250, TotalTokens: 1150}})

	id := workflows.VoiceSessionWorkflowID(session)
	var sum workflows.VoiceSummary
	deadline := time.Now().Add(30 * time.Second)
	for sum.Totals.Captured == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("response not captured; summary %+v", sum)
		}
		time.Sleep(100 * time.Millisecond)
		v, err := c.QueryWorkflow(ctx, id, "", workflows.QuerySummary)
		if err != nil {
			continue // between runs of a continue-as-new
		}
		if err := v.Get(&sum); err != nil {
			t.Fatal(err)
		}
	}
	if sum.Totals.Turns != 1 || sum.Totals.Interruptions != 1 || sum.Runs < 2 || sum.LastSnapshot == nil {
		t.Fatalf("summary %+v: want 1 turn, 1 interruption, a continue-as-new and a snapshot", sum)
	}

	if err := sig.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := sig.Stats(); st.Sent != 7 || st.Dropped != 0 {
		t.Fatalf("signaller stats %+v", st)
	}
	var final workflows.VoiceSummary
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, &final); err != nil {
		t.Fatal(err)
	}
	charged := model.Cost(900, 250)
	if final.State != workflows.VoiceClosed || final.Totals.BilledTotal != charged || final.Totals.Responses != 1 || final.HeldAmount != 0 {
		t.Fatalf("final summary %+v, want CLOSED and %d charged", final, charged)
	}
	bal, err := l.Balance(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if bal.Spent != charged || bal.Held != 0 || bal.Available != credit-charged {
		t.Fatalf("balance %+v, want %d spent", bal, charged)
	}

	// The Web UI's filter finds the closed session by user and state.
	query := fmt.Sprintf("VoiceUser = '%s' AND VoiceState = 'CLOSED'", user)
	deadline = time.Now().Add(20 * time.Second)
	for {
		list, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Executions) > 0 && list.Executions[0].Execution.WorkflowId == id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run matches %s", query)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
