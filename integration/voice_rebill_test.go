package integration

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/inferflow/inferflow/internal/faultproxy"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/logging"
	"github.com/inferflow/inferflow/internal/voicesignal"
	"github.com/inferflow/inferflow/pkg/payloadcrypt"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/workflows"
)

// A realtime process alive but cut off from Temporal (a fault proxy between
// its Signaller and the server) for longer than its owner lease, with a
// response held and in flight: the session closes ORPHANED and releases the
// hold. The response completes during the partition; once Temporal answers
// the Signaller delivers its response-done, which starts a new run. That
// run bills the usage under the rebill key, once: a retried delivery of the
// same record, in a third run, charges nothing more.
func TestVoicePartitionLongerThanLeaseBillsOnce(t *testing.T) {
	skipShort(t)
	ctx := ctxFor(t, 2*time.Minute)
	l, err := ledger.Open(ctx, ledger.Config{DSN: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	user := fmt.Sprintf("partition-%d", time.Now().UnixNano())
	const credit = 1_000_000
	if err := l.Credit(ctx, user, credit, "seed-"+user); err != nil {
		t.Fatal(err)
	}
	c := dial(t)
	queue := uniqueQueue(t)
	startWorker(t, c, queue, func(w worker.Worker) { registry.Register(w, registry.Deps{Ledger: l, Environment: "test"}) })

	// The realtime process's own client, through the proxy.
	proxy, err := faultproxy.Listen("127.0.0.1:0", server.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	z := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	rc, err := client.Dial(payloadcrypt.ClientOptions(client.Options{HostPort: proxy.Addr(), Namespace: server.Namespace,
		Logger: logging.NewSDK(z)}, suiteKeys))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)

	session := fmt.Sprintf("partition-%d", time.Now().UnixNano())
	in := workflows.VoiceSessionInput{SessionID: session, UserID: user, Owner: "rt-partition",
		Options: &workflows.VoiceOptions{OwnerLeaseMs: 1000}}
	sig, err := voicesignal.New(voicesignal.Config{Client: rc, TaskQueue: queue, Session: in, UpdateTimeout: 10 * time.Second,
		MaxBackoff: 500 * time.Millisecond, Logger: z})
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
	// As the realtime process asks: no estimate, the session's hold size.
	res, err := sig.ReserveResponse(ctx, workflows.ReserveResponseRequest{ResponseID: "r1", TurnID: "t1"})
	if err != nil || !res.OK || res.ReservationID == "" {
		t.Fatalf("reserve-response = %+v, %v", res, err)
	}
	send(&workflows.ResponseStarted{ResponseID: "r1", TurnID: "t1"})

	// The partition: the first run closes ORPHANED, its hold released.
	proxy.Down()
	id := workflows.VoiceSessionWorkflowID(session)
	var first workflows.VoiceSummary
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, &first); err != nil {
		t.Fatal(err)
	}
	if first.State != workflows.VoiceOrphaned || first.Totals.Released != 1 {
		t.Fatalf("first run: %s, totals %+v", first.State, first.Totals)
	}
	firstRun := c.GetWorkflow(ctx, id, "").GetRunID()

	// The response completes while cut off; delivered once Temporal answers.
	done := &workflows.ResponseDone{ResponseID: "r1", Status: workflows.ResponseCompleted,
		Usage: workflows.VoiceUsage{InputTokens: 900, OutputTokens: 300, TotalTokens: 1200}}
	send(done)
	send(&workflows.SessionClosed{Reason: "hangup"})
	time.Sleep(time.Second) // a few delivery attempts fail
	proxy.Up()
	if err := sig.Close(ctx); err != nil {
		t.Fatal(err)
	}
	run := c.GetWorkflow(ctx, id, "")
	var second workflows.VoiceSummary
	if err := run.Get(ctx, &second); err != nil {
		t.Fatal(err)
	}
	if run.GetRunID() == firstRun {
		t.Fatal("the records after the partition did not start a new run")
	}
	model := ledger.DefaultCatalog()[0]
	want := model.Cost(900, 300)
	if second.State != workflows.VoiceClosed || second.Totals.Captured != 1 || second.Totals.BilledTotal != want ||
		second.Totals.BillingFailures != 0 {
		t.Fatalf("second run: %s, totals %+v, timeline %+v", second.State, second.Totals, second.Timeline)
	}

	// The same record delivered again (a retried send, same seq) after the
	// second run closed: a third run, the ledger replays.
	if _, err := c.SignalWithStartWorkflow(ctx, id, string(workflows.SignalResponseDone), done, client.StartWorkflowOptions{
		ID: id, TaskQueue: queue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, workflows.VoiceSession, in); err != nil {
		t.Fatal(err)
	}
	if err := c.SignalWorkflow(ctx, id, "", string(workflows.SignalSessionClosed), &workflows.SessionClosed{Reason: "hangup"}); err != nil {
		t.Fatal(err)
	}
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, nil); err != nil {
		t.Fatal(err)
	}

	b, err := l.Balance(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if b.Spent != want || b.Held != 0 || b.Available+b.Spent != credit {
		t.Errorf("balance %+v, want %d spent once, nothing held", b, want)
	}
	holds, err := l.Holds(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	captured := 0
	for _, h := range holds {
		if h.Status == ledger.HoldCaptured {
			captured++
		}
	}
	if len(holds) != 2 || captured != 1 {
		t.Errorf("holds %+v: want the released one and the rebill, captured", holds)
	}
}
