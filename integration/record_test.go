package integration

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
)

var record = flag.Bool("record", false, "record the replay tests' workflow histories into workflows/testdata/histories")

// TestRecordHistories runs the main paths of each workflow on the dev server
// and writes their histories for the replay test (workflows/replay_test.go):
//
//	go test ./integration -run RecordHistories -record
//
// Re-record only on purpose: the recorded histories stand for the runs in
// flight that new workflow code must still replay.
func TestRecordHistories(t *testing.T) {
	dir := recordingTo(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	ce := newConsensusEnv(t)
	ce.fake.ForVision().SetDefault(openaitest.OK(120, 0.9))
	ce.fake.ForJudge().SetDefault(openaitest.Judged(121, 0.95, "close valuations"))
	consensus := func(name, item string, opts *wire.ConsensusOptions) {
		if _, err := ce.run(t, item, opts); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		saveHistory(t, ce.client.Temporal, wire.ConsensusWorkflowID(item), filepath.Join(dir, name+".json"))
	}
	consensus("consensus-success", "rec-ok", nil)
	ce.fake.ForVision().Enqueue(openaitest.OutOfRange())
	consensus("consensus-degraded", "rec-degraded", nil)
	ce.fake.ForVision().Enqueue(openaitest.OK(10, 0.9), openaitest.OK(11, 0.9), openaitest.Hang())
	consensus("consensus-early-cancel", "rec-early-cancel", &wire.ConsensusOptions{EarlyCancel: true})

	be := newBillingEnv(t, "sqlite")
	be.credit(t, "rec", 10_000_000)
	be.fake.ForCompletion().SetDefault(openaitest.Text("hello").WithUsage(provider.Usage{PromptTokens: 180, CompletionTokens: 20, TotalTokens: 200}))
	if _, err := be.run(t, job("rec", "rec-ok", "")); err != nil {
		t.Fatal(err)
	}
	saveHistory(t, be.client.Temporal, wire.InferenceWorkflowID("rec-ok"), filepath.Join(dir, "saga-success.json"))

	be.fake.ForCompletion().Enqueue(openaitest.Status(500))
	if _, err := be.run(t, job("rec", "rec-model-failure", "")); err == nil {
		t.Fatal("model failure: the job succeeded")
	}
	saveHistory(t, be.client.Temporal, wire.InferenceWorkflowID("rec-model-failure"), filepath.Join(dir, "saga-model-failure.json"))

	be.faults(6, 0) // the saga's 5 capture attempts and the first reconciliation
	if _, err := be.run(t, job("rec", "rec-capture-failure", "")); err == nil {
		t.Fatal("capture failure: the strict job succeeded")
	}
	if state := be.waitReconciled(t, "rec-capture-failure"); state != string(wire.StateCaptured) {
		t.Fatalf("capture failure: reconciled to %q", state)
	}
	saveHistory(t, be.client.Temporal, wire.InferenceWorkflowID("rec-capture-failure"), filepath.Join(dir, "saga-capture-failure.json"))
	saveHistory(t, be.client.Temporal, wire.ReconcileWorkflowID("rec-capture-failure"), filepath.Join(dir, "reconcile-capture.json"))
}

// TestRecordHistoriesVoice records voice sessions for the replay test: one
// with a turn, a billed completed response and a close (voice-session), and
// one whose first response is cancelled by a barge-in and which is
// cancelled with a second hold open (voice-cancelled). Each is driven as the
// realtime process does (signal-with-start, signals, the reserve-response
// update), one call at a time so the history's order is the script's.
//
//	go test ./integration -run RecordHistoriesVoice -record
func TestRecordHistoriesVoice(t *testing.T) {
	dir := recordingTo(t)
	ctx := ctxFor(t, 2*time.Minute)
	rec := newVoiceRecorder(t, ctx)
	c, l, user, start := rec.c, rec.l, rec.user, rec.start
	send := func(s *voiceRecording, sig workflows.VoiceSignal) { t.Helper(); rec.send(t, ctx, s, sig) }
	reserve := func(s *voiceRecording, responseID string) { t.Helper(); rec.reserve(t, ctx, s, responseID) }
	usage := workflows.VoiceUsage{InputTokens: 900, OutputTokens: 250, TotalTokens: 1150}

	s := start("rec-voice")
	send(s, &workflows.TurnStarted{TurnID: "t1"})
	send(s, &workflows.TurnEnded{TurnID: "t1", DurationMs: 1500, FramesAdmitted: 75})
	reserve(s, "r1")
	send(s, &workflows.ResponseStarted{ResponseID: "r1", TurnID: "t1"})
	send(s, &workflows.ResponseDone{ResponseID: "r1", Status: workflows.ResponseCompleted, Usage: usage})
	send(s, &workflows.SessionClosed{Reason: "caller hung up"})
	var sum workflows.VoiceSummary
	if err := c.GetWorkflow(ctx, workflows.VoiceSessionWorkflowID(s.id), "").Get(ctx, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.State != workflows.VoiceClosed || sum.Totals.Captured != 1 || sum.HeldAmount != 0 {
		t.Fatalf("voice-session: summary %+v", sum)
	}
	saveHistory(t, c, workflows.VoiceSessionWorkflowID(s.id), filepath.Join(dir, "voice-session.json"))

	s = start("rec-voice-cancelled")
	send(s, &workflows.TurnStarted{TurnID: "t1"})
	reserve(s, "r1")
	send(s, &workflows.ResponseStarted{ResponseID: "r1", TurnID: "t1"})
	send(s, &workflows.Interruption{ResponseID: "r1", TurnID: "t1"})
	send(s, &workflows.ResponseDone{ResponseID: "r1", Status: workflows.ResponseCancelled, Reason: "barge-in",
		Usage: workflows.VoiceUsage{InputTokens: 900, OutputTokens: 40, TotalTokens: 940}})
	reserve(s, "r2")
	send(s, &workflows.ResponseStarted{ResponseID: "r2", TurnID: "t1"})
	if err := c.CancelWorkflow(ctx, workflows.VoiceSessionWorkflowID(s.id), ""); err != nil {
		t.Fatal(err)
	}
	var canceled *temporal.CanceledError
	if err := c.GetWorkflow(ctx, workflows.VoiceSessionWorkflowID(s.id), "").Get(ctx, &sum); !errors.As(err, &canceled) {
		t.Fatalf("voice-cancelled: err = %v, want cancelled", err)
	}
	bal, err := l.Balance(ctx, user)
	if err != nil || bal.Held != 0 {
		t.Fatalf("voice-cancelled: balance %+v, %v: want no hold left", bal, err)
	}
	saveHistory(t, c, workflows.VoiceSessionWorkflowID(s.id), filepath.Join(dir, "voice-cancelled.json"))
}

// voiceRecorder drives voice sessions on the dev server as the realtime
// process does, for recording their histories.
type voiceRecorder struct {
	c     client.Client
	l     ledger.Ledger
	user  string
	queue string
}

// voiceRecording is one session being recorded; in is its workflow input
// (the session id is set by start).
type voiceRecording struct {
	id  string
	seq uint64
	in  workflows.VoiceSessionInput
}

func newVoiceRecorder(t *testing.T, ctx context.Context) *voiceRecorder {
	return newVoiceRecorderWith(t, ctx, nil)
}

// newVoiceRecorderWith is newVoiceRecorder whose worker sees the ledger
// through wrap (when not nil).
func newVoiceRecorderWith(t *testing.T, ctx context.Context, wrap func(ledger.Ledger) ledger.Ledger) *voiceRecorder {
	t.Helper()
	l, err := ledger.Open(ctx, ledger.Config{DSN: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	r := &voiceRecorder{c: dial(t), l: l, user: "rec-voice", queue: uniqueQueue(t)}
	if err := l.Credit(ctx, r.user, 10_000_000, "seed-"+r.user); err != nil {
		t.Fatal(err)
	}
	seen := l
	if wrap != nil {
		seen = wrap(l)
	}
	startWorker(t, r.c, r.queue, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Ledger: seen, Environment: "test"})
	})
	return r
}

func (r *voiceRecorder) start(name string) *voiceRecording {
	id := name + "-" + time.Now().UTC().Format("150405.000")
	return &voiceRecording{id: id, in: workflows.VoiceSessionInput{SessionID: id, UserID: r.user}}
}

func (r *voiceRecorder) send(t *testing.T, ctx context.Context, s *voiceRecording, sig workflows.VoiceSignal) {
	t.Helper()
	s.seq++
	sig.Meta().Seq = s.seq
	_, err := r.c.SignalWithStartWorkflow(ctx, workflows.VoiceSessionWorkflowID(s.id), string(sig.SignalName()), sig,
		client.StartWorkflowOptions{ID: workflows.VoiceSessionWorkflowID(s.id), TaskQueue: r.queue,
			TypedSearchAttributes: temporal.NewSearchAttributes(workflows.VoiceUserKey.ValueSet(r.user),
				workflows.VoiceStateKey.ValueSet(string(workflows.VoiceActive)))},
		wire.WorkflowVoiceSession, s.in)
	if err != nil {
		t.Fatalf("%s: %v", sig.SignalName(), err)
	}
}

func (r *voiceRecorder) reserve(t *testing.T, ctx context.Context, s *voiceRecording, responseID string) {
	t.Helper()
	h, err := r.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: workflows.VoiceSessionWorkflowID(s.id),
		UpdateName: workflows.UpdateReserveResponse, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{workflows.ReserveResponseRequest{ResponseID: responseID, TurnID: "t1", EstimatedInputTokens: 1000}}})
	if err != nil {
		t.Fatalf("reserve %s: %v", responseID, err)
	}
	var res workflows.ReserveResponseResult
	if err := h.Get(ctx, &res); err != nil || !res.OK || res.ReservationID == "" {
		t.Fatalf("reserve %s = %+v, %v", responseID, res, err)
	}
}

// TestRecordHistoriesVoiceLease records a session on version 1 of
// voice-owner-lease (voice-orphaned): started with an owner and a 2 s lease,
// a turn, a hold, two keep-alives, then nothing: ORPHANED, the hold
// released. Recorded apart from TestRecordHistoriesVoice, whose histories
// stand for runs from before the lease and must not be re-recorded with it.
//
//	go test ./integration -run RecordHistoriesVoiceLease -record
func TestRecordHistoriesVoiceLease(t *testing.T) {
	dir := recordingTo(t)
	ctx := ctxFor(t, 2*time.Minute)
	rec := newVoiceRecorder(t, ctx)
	s := rec.start("rec-voice-orphaned")
	s.in.Owner, s.in.Options = "rec-realtime-1", &workflows.VoiceOptions{OwnerLeaseMs: 2000}
	rec.send(t, ctx, s, &workflows.TurnStarted{TurnID: "t1"})
	rec.reserve(t, ctx, s, "r1")
	rec.send(t, ctx, s, &workflows.ResponseStarted{ResponseID: "r1", TurnID: "t1"})
	for range 2 {
		time.Sleep(600 * time.Millisecond)
		rec.send(t, ctx, s, &workflows.KeepAlive{})
	}
	var sum workflows.VoiceSummary
	if err := rec.c.GetWorkflow(ctx, workflows.VoiceSessionWorkflowID(s.id), "").Get(ctx, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.State != workflows.VoiceOrphaned || sum.Totals.KeepAlives != 2 || sum.Totals.Released != 1 || sum.HeldAmount != 0 {
		t.Fatalf("voice-orphaned: summary %+v", sum)
	}
	saveHistory(t, rec.c, workflows.VoiceSessionWorkflowID(s.id), filepath.Join(dir, "voice-orphaned.json"))
}

// TestRecordHistoriesVoiceLateRebill records version 1 of voice-late-rebill
// (voice-late-rebill): a session with an owner and a 2 s lease closes
// ORPHANED with a response held and in flight; the response's completion
// starts a new run, which finds the released hold (its own key conflicts:
// the usage differs from the hold size) and bills the usage under the
// rebill key. The new run's history is recorded.
//
//	go test ./integration -run RecordHistoriesVoiceLateRebill -record
func TestRecordHistoriesVoiceLateRebill(t *testing.T) {
	dir := recordingTo(t)
	ctx := ctxFor(t, 2*time.Minute)
	rec := newVoiceRecorder(t, ctx)
	s := rec.start("rec-voice-late-rebill")
	// The hold size is the recorder's estimate, as it is the session's
	// default for a realtime process that gives none.
	s.in.Owner, s.in.Options = "rec-realtime-1", &workflows.VoiceOptions{OwnerLeaseMs: 2000, DefaultInputTokens: 1000}
	id := workflows.VoiceSessionWorkflowID(s.id)
	rec.send(t, ctx, s, &workflows.TurnStarted{TurnID: "t1"})
	rec.reserve(t, ctx, s, "r1")
	rec.send(t, ctx, s, &workflows.ResponseStarted{ResponseID: "r1", TurnID: "t1"})
	var sum workflows.VoiceSummary
	if err := rec.c.GetWorkflow(ctx, id, "").Get(ctx, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.State != workflows.VoiceOrphaned || sum.Totals.Released != 1 {
		t.Fatalf("first run: summary %+v", sum)
	}
	rec.send(t, ctx, s, &workflows.ResponseDone{ResponseID: "r1", Status: workflows.ResponseCompleted,
		Usage: workflows.VoiceUsage{InputTokens: 900, OutputTokens: 250, TotalTokens: 1150}})
	rec.send(t, ctx, s, &workflows.SessionClosed{Reason: "caller hung up"})
	if err := rec.c.GetWorkflow(ctx, id, "").Get(ctx, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.State != workflows.VoiceClosed || sum.Totals.Captured != 1 || sum.Totals.BillingFailures != 0 {
		t.Fatalf("second run: summary %+v", sum)
	}
	saveHistory(t, rec.c, id, filepath.Join(dir, "voice-late-rebill.json"))
}

// lostReplyLedger commits every reserve, then answers it with a connection
// error while down is set: the reply lost to an outage.
type lostReplyLedger struct {
	ledger.Ledger
	down    atomic.Bool // reserves commit, their replies are lost
	dlqDown atomic.Bool // DLQ records cannot be written
}

func (l *lostReplyLedger) PutDLQ(ctx context.Context, rec ledger.DLQRecord) (bool, error) {
	if l.dlqDown.Load() {
		return false, errors.New("ledger: postgres put DLQ: dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	return l.Ledger.PutDLQ(ctx, rec)
}

func (l *lostReplyLedger) Reserve(ctx context.Context, req ledger.ReserveRequest) (ledger.Reservation, error) {
	r, err := l.Ledger.Reserve(ctx, req)
	if l.down.Load() {
		return ledger.Reservation{}, errors.New("ledger: postgres reserve: read tcp: connection reset by peer")
	}
	return r, err
}

// TestRecordHistoriesVoiceReconcileAlways records version 1 of
// voice-reconcile-always: a response's reserve commits but every reply is
// lost (at the reserve-response update and again when the response is
// done), so the response is recorded unbilled and a Reconcile starts with a
// RESERVE_UNCERTAIN record; with the ledger back, that reconciliation
// releases the hold.
//
//	go test ./integration -run RecordHistoriesVoiceReconcileAlways -record
func TestRecordHistoriesVoiceReconcileAlways(t *testing.T) {
	dir := recordingTo(t)
	ctx := ctxFor(t, 2*time.Minute)
	lost := &lostReplyLedger{}
	lost.down.Store(true)
	rec := newVoiceRecorderWith(t, ctx, func(l ledger.Ledger) ledger.Ledger { lost.Ledger = l; return lost })
	s := rec.start("rec-voice-reconcile-always")
	id := workflows.VoiceSessionWorkflowID(s.id)
	rec.send(t, ctx, s, &workflows.TurnStarted{TurnID: "t1"})
	h, err := rec.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id,
		UpdateName: workflows.UpdateReserveResponse, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{workflows.ReserveResponseRequest{ResponseID: "r1", TurnID: "t1", EstimatedInputTokens: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.ReserveResponseResult
	if err := h.Get(ctx, &res); err != nil || !res.Deferred {
		t.Fatalf("reserve r1 = %+v, %v: want deferred", res, err)
	}
	rec.send(t, ctx, s, &workflows.ResponseStarted{ResponseID: "r1", TurnID: "t1"})
	rec.send(t, ctx, s, &workflows.ResponseDone{ResponseID: "r1", Status: workflows.ResponseCompleted,
		Usage: workflows.VoiceUsage{InputTokens: 900, OutputTokens: 250, TotalTokens: 1150}})
	rec.send(t, ctx, s, &workflows.SessionClosed{Reason: "caller hung up"})
	var sum workflows.VoiceSummary
	if err := rec.c.GetWorkflow(ctx, id, "").Get(ctx, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.State != workflows.VoiceClosed || sum.Totals.Reconciling != 1 || sum.Totals.Captured != 0 {
		t.Fatalf("summary %+v", sum)
	}
	lost.down.Store(false)
	job := workflows.VoiceResponseJobID(s.id, "r1")
	if err := rec.c.GetWorkflow(ctx, wire.ReconcileWorkflowID(job), "").Get(ctx, nil); err != nil {
		t.Fatalf("reconciliation: %v", err)
	}
	bal, err := rec.l.Balance(ctx, rec.user)
	if err != nil || bal.Held != 0 || bal.Spent != 0 {
		t.Fatalf("balance %+v, %v: want the lost hold released", bal, err)
	}
	saveHistory(t, rec.c, id, filepath.Join(dir, "voice-reconcile-always.json"))
}

// TestRecordHistoriesSagaReconcileAlways records version 1 of
// reconcile-always on the saga: the job's reserve commits but every reply
// is lost, and its DLQ record cannot be written either, so the job ends
// INFRA_UNAVAILABLE with its Reconcile started on a RESERVE_UNCERTAIN record
// that does not exist (saga-reconcile-always). With the ledger back, the
// reconciliation writes the record and releases the hold
// (reconcile-reserve-uncertain).
//
//	go test ./integration -run RecordHistoriesSagaReconcileAlways -record
func TestRecordHistoriesSagaReconcileAlways(t *testing.T) {
	dir := recordingTo(t)
	lost := &lostReplyLedger{}
	lost.down.Store(true)
	lost.dlqDown.Store(true)
	be := newBillingEnvWith(t, "sqlite", func(l ledger.Ledger) ledger.Ledger { lost.Ledger = l; return lost })
	be.credit(t, "rec", 10_000_000)
	in := job("rec", "rec-reconcile-always", "")
	_, err := be.run(t, in)
	wantInferenceFailure(t, err, wire.CodeInfraUnavailable)
	lost.down.Store(false)
	lost.dlqDown.Store(false)
	if state := be.waitReconciled(t, in.JobID); state != string(wire.StateReservationFailed) {
		t.Fatalf("reconciled to %q, want %s", state, wire.StateReservationFailed)
	}
	ctx := ctxFor(t, time.Minute)
	bal, err := be.ledger.Balance(ctx, "rec")
	if err != nil || bal.Held != 0 || bal.Spent != 0 {
		t.Fatalf("balance %+v, %v: want the lost hold released", bal, err)
	}
	rec, err := be.ledger.DLQ(ctx, string(wire.DLQReserveUncertain), in.JobID, wire.DLQSchemaVersion)
	if err != nil || rec.Status != ledger.DLQResolved {
		t.Fatalf("DLQ record %+v, %v: want the reconciliation's own, resolved", rec, err)
	}
	saveHistory(t, be.client.Temporal, wire.InferenceWorkflowID(in.JobID), filepath.Join(dir, "saga-reconcile-always.json"))
	saveHistory(t, be.client.Temporal, wire.ReconcileWorkflowID(in.JobID), filepath.Join(dir, "reconcile-reserve-uncertain.json"))
}

// recordingTo skips a recording test unless -record is given, and returns
// the folder the replay tests read their histories from. Histories are
// recorded without payload keys: the replay tests read them without.
func recordingTo(t *testing.T) string {
	t.Helper()
	if !*record {
		t.Skip("re-records workflows/testdata/histories only with -record")
	}
	if suiteKeys != nil {
		t.Fatal("record without payload keys: the replay tests read the histories without them")
	}
	return filepath.Join(root, "workflows", "testdata", "histories")
}

// saveHistory writes a closed workflow's history as `temporal workflow show
// --output json` does, which worker.WorkflowReplayer reads.
func saveHistory(t *testing.T, c client.Client, workflowID, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	it := c.GetWorkflowHistory(ctx, workflowID, "", true, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", workflowID, err)
		}
		h.Events = append(h.Events, e)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s (%d events)", path, len(h.Events))
}

// TestRecordHistoriesClaim records the saga as changed by `claim-job` (the
// job claim, max_tokens, the capture capped at the hold), beside the older
// histories that replay without it: a job that claims and captures
// (saga-claimed), a second run of it refused with DUPLICATE_JOB
// (saga-duplicate), and an answer past the hold billed as the hold
// (saga-overage).
//
//	go test ./integration -run RecordHistoriesClaim -record
func TestRecordHistoriesClaim(t *testing.T) {
	dir := recordingTo(t)
	be := newBillingEnv(t, "sqlite")
	be.credit(t, "rec", 10_000_000)
	be.fake.ForCompletion().SetDefault(openaitest.Text("hello").WithUsage(provider.Usage{PromptTokens: 180, CompletionTokens: 20, TotalTokens: 200}))
	in := job("rec", "rec-claimed", "")
	if _, err := be.run(t, in); err != nil {
		t.Fatal(err)
	}
	saveHistory(t, be.client.Temporal, wire.InferenceWorkflowID(in.JobID), filepath.Join(dir, "saga-claimed.json"))

	ctx := ctxFor(t, time.Minute)
	run, err := be.client.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wire.InferenceWorkflowID(in.JobID),
		TaskQueue: be.client.TaskQueue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE}, wire.WorkflowInferenceJob, in)
	if err != nil {
		t.Fatal(err)
	}
	wantInferenceFailure(t, run.Get(ctx, nil), wire.CodeDuplicateJob)
	saveHistory(t, be.client.Temporal, wire.InferenceWorkflowID(in.JobID), filepath.Join(dir, "saga-duplicate.json"))

	over := testModel.MaxCompletionTokens + 100
	be.fake.ForCompletion().Enqueue(openaitest.Text("long").WithUsage(provider.Usage{PromptTokens: 200, CompletionTokens: over, TotalTokens: 200 + over}))
	if _, err := be.run(t, job("rec", "rec-overage", "")); err != nil {
		t.Fatal(err)
	}
	saveHistory(t, be.client.Temporal, wire.InferenceWorkflowID("rec-overage"), filepath.Join(dir, "saga-overage.json"))
}

// TestRecordHistoriesSagaV3 records the saga on version 1 of `saga-v3` (the
// ledger steps as local activities, the claim and the sparse BillingState
// upserts implied) beside the older histories: a job claimed and captured
// (saga-v3-success), a model failure and the hold released
// (saga-v3-model-failure), a capture that fails its 5 attempts and is
// reconciled (saga-v3-capture-failure), and a second run of the first job
// refused (saga-v3-duplicate).
//
//	go test ./integration -run RecordHistoriesSagaV3 -record
func TestRecordHistoriesSagaV3(t *testing.T) {
	dir := recordingTo(t)
	be := newBillingEnv(t, "sqlite")
	be.credit(t, "rec", 10_000_000)
	be.fake.ForCompletion().SetDefault(openaitest.Text("hello").WithUsage(provider.Usage{PromptTokens: 180, CompletionTokens: 20, TotalTokens: 200}))
	save := func(jobID, name string) {
		saveHistory(t, be.client.Temporal, wire.InferenceWorkflowID(jobID), filepath.Join(dir, name+".json"))
	}

	in := job("rec", "rec-v3-ok", "")
	if _, err := be.run(t, in); err != nil {
		t.Fatal(err)
	}
	save(in.JobID, "saga-v3-success")

	ctx := ctxFor(t, time.Minute)
	run, err := be.client.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wire.InferenceWorkflowID(in.JobID),
		TaskQueue: be.client.TaskQueue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE}, wire.WorkflowInferenceJob, in)
	if err != nil {
		t.Fatal(err)
	}
	wantInferenceFailure(t, run.Get(ctx, nil), wire.CodeDuplicateJob)
	save(in.JobID, "saga-v3-duplicate")

	be.fake.ForCompletion().Enqueue(openaitest.Status(500))
	if _, err := be.run(t, job("rec", "rec-v3-model-failure", "")); err == nil {
		t.Fatal("model failure: the job succeeded")
	}
	save("rec-v3-model-failure", "saga-v3-model-failure")

	be.faults(6, 0) // the saga's 5 capture attempts and the first reconciliation
	if _, err := be.run(t, job("rec", "rec-v3-capture-failure", "")); err == nil {
		t.Fatal("capture failure: the strict job succeeded")
	}
	if state := be.waitReconciled(t, "rec-v3-capture-failure"); state != string(wire.StateCaptured) {
		t.Fatalf("capture failure: reconciled to %q", state)
	}
	save("rec-v3-capture-failure", "saga-v3-capture-failure")
}
