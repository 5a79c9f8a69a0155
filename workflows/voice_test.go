package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/activities"
	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/metrics/metricstest"
	"github.com/inferflow/inferflow/wire"
)

// errLedgerDown stands for an unreachable database.
var errLedgerDown = errors.New("ledger unreachable")

// flakyLedger is a real SQLite ledger whose next calls of each kind can be
// made to fail as infrastructure errors.
type flakyLedger struct {
	ledger.Ledger
	mu                                    sync.Mutex
	failReserve, failCapture, failRelease int
	reserves, captures, releases          int
	failDLQ                               int  // PutDLQ calls to fail
	lostReplies                           bool // a failed reserve commits first (its reply lost)
}

func (f *flakyLedger) take(calls, fails *int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	*calls++
	if *fails > 0 {
		*fails--
		return true
	}
	return false
}

func (f *flakyLedger) Reserve(ctx context.Context, req ledger.ReserveRequest) (ledger.Reservation, error) {
	if f.take(&f.reserves, &f.failReserve) {
		if f.lostReplies {
			_, _ = f.Ledger.Reserve(ctx, req)
		}
		return ledger.Reservation{}, errLedgerDown
	}
	return f.Ledger.Reserve(ctx, req)
}

func (f *flakyLedger) PutDLQ(ctx context.Context, rec ledger.DLQRecord) (bool, error) {
	var calls int
	if f.take(&calls, &f.failDLQ) {
		return false, errLedgerDown
	}
	return f.Ledger.PutDLQ(ctx, rec)
}

func (f *flakyLedger) Capture(ctx context.Context, req ledger.CaptureRequest) (ledger.CaptureResult, error) {
	if f.take(&f.captures, &f.failCapture) {
		return ledger.CaptureResult{}, errLedgerDown
	}
	return f.Ledger.Capture(ctx, req)
}

func (f *flakyLedger) Release(ctx context.Context, req ledger.ReleaseRequest) (ledger.ReleaseResult, error) {
	if f.take(&f.releases, &f.failRelease) {
		return ledger.ReleaseResult{}, errLedgerDown
	}
	return f.Ledger.Release(ctx, req)
}

const voiceUser = "u-voice"

func voiceModel(t *testing.T) ledger.Model {
	t.Helper()
	for _, m := range ledger.DefaultCatalog() {
		if m.ID == DefaultVoiceModelID {
			return m
		}
	}
	t.Fatalf("%s is not in the default catalog", DefaultVoiceModelID)
	return ledger.Model{}
}

func newVoiceLedger(t *testing.T, credit int64) *flakyLedger {
	t.Helper()
	l, err := ledger.Open(context.Background(), ledger.Config{DSN: filepath.Join(t.TempDir(), "voice.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if credit > 0 {
		if err := l.Credit(context.Background(), voiceUser, credit, "seed"); err != nil {
			t.Fatal(err)
		}
	}
	return &flakyLedger{Ledger: l}
}

// voiceRun is one test run of VoiceSession on the SDK test environment.
type voiceRun struct {
	env        *testsuite.TestWorkflowEnvironment
	mu         sync.Mutex
	results    map[string]ReserveResponseResult
	rejects    map[string]error
	reconciles []wire.ReconcileInput
	states     []string // VoiceState upserts
}

func newVoiceRun(t *testing.T, l ledger.Ledger) *voiceRun {
	t.Helper()
	return newVoiceRunIn(t, l, &testsuite.WorkflowTestSuite{})
}

func newVoiceRunIn(t *testing.T, l ledger.Ledger, s *testsuite.WorkflowTestSuite) *voiceRun {
	t.Helper()
	r := &voiceRun{env: s.NewTestWorkflowEnvironment(), results: map[string]ReserveResponseResult{}, rejects: map[string]error{}}
	r.env.RegisterWorkflow(VoiceSession)
	r.env.RegisterWorkflow(Reconcile)
	r.env.RegisterActivity(&activities.Billing{Ledger: l, Environment: "test"})
	r.env.OnWorkflow(Reconcile, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ workflow.Context, in wire.ReconcileInput, _ wire.ReconcileOptions) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.reconciles = append(r.reconciles, in)
			return nil
		})
	r.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		if v, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(VoiceStateKey); ok {
			r.mu.Lock()
			r.states = append(r.states, v)
			r.mu.Unlock()
		}
	}).Return(nil).Maybe()
	return r
}

// reserve is a script step: the reserve-response update.
type reserve ReserveResponseRequest

// at is a script step: the steps after it run together at this offset from
// the start, until the next at.
type at time.Duration

// play schedules a script: signals (Seq numbered in script order unless
// set) and updates, one second apart until an at step.
func (r *voiceRun) play(steps ...any) {
	offset, step := time.Second, time.Second
	var seq uint64
	for i, st := range steps {
		switch v := st.(type) {
		case at:
			offset, step = time.Duration(v), 0
			continue
		case VoiceSignal:
			seq++
			if v.Meta().Seq == 0 {
				v.Meta().Seq = seq
			}
			r.env.RegisterDelayedCallback(func() { r.env.SignalWorkflow(string(v.SignalName()), v) }, offset)
		case reserve:
			req := ReserveResponseRequest(v)
			r.env.RegisterDelayedCallback(func() {
				r.env.UpdateWorkflow(UpdateReserveResponse, fmt.Sprintf("%s#%d", req.ResponseID, i), &testsuite.TestUpdateCallback{
					OnReject: func(err error) {
						r.mu.Lock()
						defer r.mu.Unlock()
						r.rejects[req.ResponseID] = err
					},
					OnComplete: func(v any, err error) {
						r.mu.Lock()
						defer r.mu.Unlock()
						if err != nil {
							r.rejects[req.ResponseID] = err
							return
						}
						r.results[req.ResponseID] = decodeReserveResult(v)
					},
				}, req)
			}, offset)
		default:
			panic("unknown step")
		}
		offset += step
	}
}

func decodeReserveResult(v any) ReserveResponseResult {
	switch x := v.(type) {
	case ReserveResponseResult:
		return x
	case *commonpb.Payloads:
		var out ReserveResponseResult
		_ = converter.GetDefaultDataConverter().FromPayloads(x, &out)
		return out
	}
	return ReserveResponseResult{Reason: "undecodable update result"}
}

func (r *voiceRun) execute(t *testing.T, in VoiceSessionInput) VoiceSummary {
	t.Helper()
	r.env.ExecuteWorkflow(VoiceSession, in)
	if !r.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := r.env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var sum VoiceSummary
	if err := r.env.GetWorkflowResult(&sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

func voiceInput() VoiceSessionInput {
	return VoiceSessionInput{SessionID: "s1", UserID: voiceUser}
}

func kinds(events []VoiceEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Kind)
	}
	return out
}

func done(id string, status ResponseStatus, in, out int) *ResponseDone {
	return &ResponseDone{ResponseID: id, Status: status, Usage: VoiceUsage{InputTokens: in, OutputTokens: out, TotalTokens: in + out}}
}

func TestVoiceSessionBilling(t *testing.T) {
	const credit = 1_000_000
	type want struct {
		result                                    map[string]ReserveResponseResult // by response id
		captured, released, refused, late, failed int
		reconciling                               int
		dlq                                       wire.DLQType // DLQ record type when reconciling
		noRecord                                  bool         // the DLQ record could not be written (the reconciliation writes it)
		charged                                   int64        // micro-credits
		holds                                     int          // reservations made in the ledger
		state                                     VoiceState
		events                                    []string // must appear in this order
	}
	model := voiceModel(t)
	hold := func(tokens int) int64 { return ledger.ExpectedCost(model, tokens) }
	tests := []struct {
		name   string
		credit int64
		opts   *VoiceOptions
		setup  func(*flakyLedger)
		steps  []any
		want   want
	}{
		{name: "turn and completed response: hold then capture of the usage",
			steps: []any{&TurnStarted{TurnID: "t1"}, &TurnEnded{TurnID: "t1", DurationMs: 1200, FramesAdmitted: 60},
				reserve{ResponseID: "r1", TurnID: "t1", EstimatedInputTokens: 1000}, &ResponseStarted{ResponseID: "r1", TurnID: "t1"},
				&GateSnapshot{TurnState: "idle", BarrierState: "open", FramesTotal: 100},
				done("r1", ResponseCompleted, 900, 300), &SessionClosed{Reason: "hangup"}},
			want: want{result: map[string]ReserveResponseResult{"r1": {OK: true, HeldAmount: hold(1000)}},
				captured: 1, charged: model.Cost(900, 300), holds: 1, state: VoiceClosed,
				events: []string{"turn-started", "turn-ended", "hold", "response-started", "response-done", "captured", "session-closed", "closed"}}},
		{name: "cancelled response (barge-in) releases its hold",
			steps: []any{&TurnStarted{TurnID: "t1"}, reserve{ResponseID: "r1"}, &Interruption{ResponseID: "r1"},
				done("r1", ResponseCancelled, 500, 20), &SessionClosed{Reason: "hangup"}},
			want: want{result: map[string]ReserveResponseResult{"r1": {OK: true, HeldAmount: hold(DefaultVoiceInputTokens)}},
				released: 1, holds: 1, state: VoiceClosed, events: []string{"hold", "interruption", "response-done", "released"}}},
		{name: "failed response releases its hold",
			steps: []any{reserve{ResponseID: "r1"}, done("r1", ResponseFailed, 0, 0), &SessionClosed{}},
			want:  want{result: map[string]ReserveResponseResult{"r1": {OK: true, HeldAmount: hold(DefaultVoiceInputTokens)}}, released: 1, holds: 1, state: VoiceClosed}},
		{name: "insufficient credits: refused, nothing held", credit: 10,
			steps: []any{reserve{ResponseID: "r1"}, &SessionClosed{}},
			want: want{result: map[string]ReserveResponseResult{"r1": {OK: false, Reason: string(ledger.ReasonInsufficientCredits)}},
				refused: 1, state: VoiceClosed, events: []string{"refused"}}},
		{name: "ledger down at reserve: response goes on, billed when done",
			setup: func(f *flakyLedger) { f.failReserve = 5 }, // every attempt of the update's reserve
			steps: []any{reserve{ResponseID: "r1", EstimatedInputTokens: 2000}, done("r1", ResponseCompleted, 1500, 100), &SessionClosed{}},
			want: want{result: map[string]ReserveResponseResult{"r1": {OK: true, Deferred: true, Reason: ReasonBillingUnavailable}},
				failed: 1, late: 1, captured: 1, charged: model.Cost(1500, 100), holds: 1, state: VoiceClosed,
				// The reserve's retries outlast the response: it is settled when
				// the reserve gives up.
				events: []string{"response-done", "billing-failed", "captured"}}},
		{name: "ledger down throughout: recorded, a reconciliation for what the reserve may hold, the session still completes",
			setup: func(f *flakyLedger) { f.failReserve = 1000 },
			steps: []any{reserve{ResponseID: "r1"}, done("r1", ResponseCompleted, 100, 100), &SessionClosed{}},
			want: want{result: map[string]ReserveResponseResult{"r1": {OK: true, Deferred: true, Reason: ReasonBillingUnavailable}},
				failed: 2, reconciling: 1, dlq: wire.DLQReserveUncertain, state: VoiceClosed,
				events: []string{"response-done", "billing-failed", "unbilled", "reconciling"}}},
		{name: "reserve committed but every reply lost: its hold goes to reconciliation",
			setup: func(f *flakyLedger) { f.failReserve, f.lostReplies = 1000, true },
			steps: []any{reserve{ResponseID: "r1"}, done("r1", ResponseCompleted, 100, 100), &SessionClosed{}},
			want: want{result: map[string]ReserveResponseResult{"r1": {OK: true, Deferred: true, Reason: ReasonBillingUnavailable}},
				failed: 2, reconciling: 1, dlq: wire.DLQReserveUncertain, holds: 1, state: VoiceClosed,
				events: []string{"unbilled", "reconciling"}}},
		{name: "release failure whose DLQ record cannot be written still starts reconciliation",
			setup: func(f *flakyLedger) { f.failRelease, f.failDLQ = 1000, 1000 },
			steps: []any{reserve{ResponseID: "r1"}, done("r1", ResponseCancelled, 100, 10), &SessionClosed{}},
			want: want{result: map[string]ReserveResponseResult{"r1": {OK: true, HeldAmount: hold(DefaultVoiceInputTokens)}},
				failed: 1, reconciling: 1, dlq: "RELEASE_FAILED", noRecord: true, holds: 1, state: VoiceClosed,
				events: []string{"billing-failed", "dlq-failed", "reconciling"}}},
		{name: "response without a hold is billed after the fact",
			steps: []any{&ResponseStarted{ResponseID: "r1"}, done("r1", ResponseCompleted, 800, 200), &SessionClosed{}},
			want: want{late: 1, captured: 1, charged: model.Cost(800, 200), holds: 1, state: VoiceClosed,
				events: []string{"response-started", "response-done", "bill-late", "captured"}}},
		{name: "capture failure goes to the DLQ and reconciliation",
			setup: func(f *flakyLedger) { f.failCapture = 1000 },
			steps: []any{reserve{ResponseID: "r1"}, done("r1", ResponseCompleted, 100, 10), &SessionClosed{}},
			want: want{result: map[string]ReserveResponseResult{"r1": {OK: true, HeldAmount: hold(DefaultVoiceInputTokens)}},
				failed: 1, reconciling: 1, dlq: "CAPTURE_FAILED", holds: 1, state: VoiceClosed, events: []string{"billing-failed", "reconciling"}}},
		{name: "release failure goes to the DLQ and reconciliation",
			setup: func(f *flakyLedger) { f.failRelease = 1000 },
			steps: []any{reserve{ResponseID: "r1"}, done("r1", ResponseCancelled, 100, 10), &SessionClosed{}},
			want: want{result: map[string]ReserveResponseResult{"r1": {OK: true, HeldAmount: hold(DefaultVoiceInputTokens)}},
				failed: 1, reconciling: 1, dlq: "RELEASE_FAILED", holds: 1, state: VoiceClosed, events: []string{"billing-failed", "reconciling"}}},
		{name: "refused response generated anyway: recorded, not billed", credit: 10,
			steps: []any{reserve{ResponseID: "r1"}, done("r1", ResponseCompleted, 100, 10), &SessionClosed{}},
			want: want{result: map[string]ReserveResponseResult{"r1": {OK: false, Reason: string(ledger.ReasonInsufficientCredits)}},
				refused: 1, failed: 1, state: VoiceClosed, events: []string{"refused", "response-done", "unbilled"}}},
		{name: "usage beyond the hold: released and billed under a new key",
			steps: []any{reserve{ResponseID: "r1", EstimatedInputTokens: 10}, done("r1", ResponseCompleted, 5000, 100), &SessionClosed{}},
			want: want{result: map[string]ReserveResponseResult{"r1": {OK: true, HeldAmount: hold(10)}},
				released: 1, captured: 1, charged: model.Cost(5000, 100), holds: 2, state: VoiceClosed,
				events: []string{"rebill", "released", "captured"}}},
		{name: "close settles billing first: done and close in one task, open hold released",
			steps: []any{reserve{ResponseID: "r1"}, reserve{ResponseID: "r2"},
				done("r1", ResponseCompleted, 300, 30), at(3 * time.Second), &SessionClosed{Reason: "hangup"}},
			want: want{result: map[string]ReserveResponseResult{"r1": {OK: true, HeldAmount: hold(DefaultVoiceInputTokens)},
				"r2": {OK: true, HeldAmount: hold(DefaultVoiceInputTokens)}},
				captured: 1, released: 1, charged: model.Cost(300, 30), holds: 2, state: VoiceClosed,
				events: []string{"response-done", "session-closed", "closing", "captured", "closed"}}},
		{name: "inactivity ends the session and releases its holds",
			opts:  &VoiceOptions{InactivityTimeoutMs: 60_000},
			steps: []any{reserve{ResponseID: "r1"}},
			want: want{result: map[string]ReserveResponseResult{"r1": {OK: true, HeldAmount: hold(DefaultVoiceInputTokens)}},
				released: 1, holds: 1, state: VoiceTimedOut, events: []string{"hold", "closing", "released", "closed"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.credit == 0 {
				tt.credit = credit
			}
			l := newVoiceLedger(t, tt.credit)
			if tt.setup != nil {
				tt.setup(l)
			}
			run := newVoiceRun(t, l)
			run.play(tt.steps...)
			in := voiceInput()
			in.Options = tt.opts
			sum := run.execute(t, in)
			w := tt.want

			for id, wantRes := range w.result {
				got, ok := run.results[id]
				if !ok {
					t.Fatalf("no reserve-response result for %s (rejected: %v)", id, run.rejects[id])
				}
				if wantRes.OK && !wantRes.Deferred && got.ReservationID == "" {
					t.Errorf("%s: result %+v has no reservation id", id, got)
				}
				got.ReservationID = ""
				if got != wantRes {
					t.Errorf("%s: reserve-response = %+v, want %+v", id, got, wantRes)
				}
			}
			tot := sum.Totals
			if tot.Captured != w.captured || tot.Released != w.released || tot.Refused != w.refused ||
				tot.BilledLate != w.late || tot.BillingFailures != w.failed || tot.Reconciling != w.reconciling {
				t.Errorf("totals = %+v\nwant captured %d released %d refused %d late %d failures %d reconciling %d",
					tot, w.captured, w.released, w.refused, w.late, w.failed, w.reconciling)
			}
			if tot.BilledTotal != w.charged {
				t.Errorf("billed total %d, want %d", tot.BilledTotal, w.charged)
			}
			if sum.State != w.state || len(sum.OpenResponses) != 0 || sum.HeldAmount != 0 {
				t.Errorf("state %s (want %s), open %v, held %d", sum.State, w.state, sum.OpenResponses, sum.HeldAmount)
			}
			if got := kinds(sum.Timeline); !inOrder(got, w.events) {
				t.Errorf("timeline %v lacks %v in order", got, w.events)
			}
			if n := len(run.states); n == 0 || run.states[n-1] != string(w.state) {
				t.Errorf("VoiceState upserts %v, want last %s", run.states, w.state)
			}

			// The ledger agrees with the session.
			ctx := context.Background()
			bal, err := l.Balance(ctx, voiceUser)
			if err != nil {
				t.Fatal(err)
			}
			wantHeld := int64(0)
			if w.reconciling > 0 && w.holds > 0 { // the hold is the reconciler's now
				wantHeld = hold(DefaultVoiceInputTokens)
			}
			if bal.Spent != w.charged || bal.Held != wantHeld || bal.Available+bal.Held+bal.Spent != tt.credit {
				t.Errorf("balance %+v, want spent %d held %d of %d", bal, w.charged, wantHeld, tt.credit)
			}
			// After a capture the summary knows the balance the ledger had
			// then. With nothing else settled it is the ledger's now; a
			// release settled in the same task may land before or after the
			// capture, and can only have raised the balance since.
			if w.captured > 0 && w.reconciling == 0 && w.late == 0 {
				switch {
				case sum.Available == nil:
					t.Errorf("summary has no balance after a capture; ledger available %d", bal.Available)
				case w.released == 0 && *sum.Available != bal.Available,
					w.released > 0 && *sum.Available > bal.Available:
					t.Errorf("summary balance %d, ledger available %d (%d released)", *sum.Available, bal.Available, w.released)
				}
			}
			holds, err := l.Holds(ctx, voiceUser)
			if err != nil {
				t.Fatal(err)
			}
			if len(holds) != w.holds {
				t.Errorf("%d holds in the ledger, want %d: %+v", len(holds), w.holds, holds)
			}
			if w.reconciling > 0 {
				if len(run.reconciles) != 1 || run.reconciles[0].JobID != VoiceResponseJobID("s1", "r1") || run.reconciles[0].Type != w.dlq {
					t.Errorf("reconciles = %+v", run.reconciles)
				} else if in := run.reconciles[0]; in.Service != wire.DLQServiceVoice || in.SessionID != "s1" || in.ResponseID != "r1" || in.UserID != voiceUser {
					// What a reconciliation that must write the record needs.
					t.Errorf("reconcile names writer %s, session %s, response %s, user %s", in.Service, in.SessionID, in.ResponseID, in.UserID)
				} else if r := run.reconciles[0].Reserve; (w.dlq == wire.DLQReserveUncertain) != (r != nil) ||
					r != nil && (r.JobID != VoiceResponseJobID("s1", "r1") || r.UserID != voiceUser || r.PromptTokens != DefaultVoiceInputTokens) {
					t.Errorf("reconcile's reserve = %+v", r)
				}
				if w.noRecord {
					return
				}
				rec, err := l.DLQ(ctx, string(w.dlq), VoiceResponseJobID("s1", "r1"), wire.DLQSchemaVersion)
				if err != nil || rec.Status != ledger.DLQOpen {
					t.Errorf("DLQ record %+v, %v", rec, err)
				}
				var p wire.DLQPayload
				if err := json.Unmarshal(rec.Payload, &p); err != nil || p.Service != wire.DLQServiceVoice || p.SessionID != "s1" || p.ResponseID != "r1" ||
					p.Environment != "test" || (w.dlq == wire.DLQCaptureFailed) != (p.ActualUsage != nil && p.CaptureError != nil) ||
					(w.dlq == wire.DLQReserveUncertain) != (p.ReserveError != nil) {
					t.Errorf("DLQ payload %s, %v", rec.Payload, err)
				}
			}
		})
	}
}

// inOrder reports whether want is a subsequence of got.
func inOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// drainOrder is a test workflow: it lets signals pile up in the channels,
// then drains them as VoiceSession does.
func drainOrder(ctx workflow.Context) ([]uint64, error) {
	chans := voiceChannels(ctx)
	if err := workflow.Sleep(ctx, time.Minute); err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, sig := range drain(chans) {
		seqs = append(seqs, sig.Meta().Seq)
	}
	return seqs, nil
}

// Signals of several names that arrive in one workflow task are handled in
// the sender's order, not channel by channel.
func TestVoiceDrainFollowsSenderOrder(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(drainOrder)
	sigs := []VoiceSignal{&SessionClosed{}, &Interruption{}, &GateSnapshot{}, &ResponseDone{}, &ResponseStarted{}, &TurnEnded{}, &TurnStarted{}}
	for i, sig := range sigs {
		sig.Meta().Seq = uint64(len(sigs) - i) // closed is 7, turn-started 1
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(string(sig.SignalName()), sig) }, time.Duration(i+1)*time.Second)
	}
	env.ExecuteWorkflow(drainOrder)
	var seqs []uint64
	if err := env.GetWorkflowResult(&seqs); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs, []uint64{1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("drained %v", seqs)
	}
}

func TestVoiceSessionSignals(t *testing.T) {
	l := newVoiceLedger(t, 1_000_000)
	run := newVoiceRun(t, l)
	// A repeated Seq is dropped; an invalid signal is counted and skipped; a
	// snapshot replaces the last.
	dup := &TurnStarted{TurnID: "t1"}
	dup.Seq = 1
	sent := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	first := &TurnStarted{TurnID: "t1"}
	first.At = sent
	ended := &TurnEnded{TurnID: "t1", DurationMs: 900}
	ended.Seq = 4
	resent := *ended // the send timed out after it arrived, and was retried
	run.play(first, &GateSnapshot{TurnState: "speaking", FramesTotal: 10}, dup,
		ended, &resent, &GateSnapshot{TurnState: "idle", FramesTotal: 20}, &TurnStarted{},
		&Interruption{ResponseID: "r0"}, &SessionClosed{Reason: "bye"})
	sum := run.execute(t, voiceInput())
	if got := kinds(sum.Timeline); !slices.Equal(got, []string{"turn-started", "turn-ended", "invalid-signal", "interruption", "session-closed", "closing", "closed"}) {
		t.Errorf("timeline %v", got)
	}
	tot := sum.Totals
	if tot.Turns != 1 || tot.Interruptions != 1 || tot.DuplicateSignals != 2 || tot.InvalidSignals != 1 || tot.Signals != 9 {
		t.Errorf("totals %+v", tot)
	}
	if sum.LastSnapshot == nil || sum.LastSnapshot.TurnState != "idle" || sum.LastSnapshot.FramesTotal != 20 {
		t.Errorf("last snapshot %+v, want the newest", sum.LastSnapshot)
	}
	if !sum.Timeline[0].SentAt.Equal(sent) || !sum.Timeline[len(sum.Timeline)-1].SentAt.IsZero() {
		t.Errorf("sender times: first %v (want %v), last %v (want none)", sum.Timeline[0].SentAt, sent, sum.Timeline[len(sum.Timeline)-1].SentAt)
	}
	if sum.CurrentTurn != "" || sum.CloseReason != "bye" {
		t.Errorf("current turn %q, close reason %q", sum.CurrentTurn, sum.CloseReason)
	}
}

func TestVoiceSessionTimelineIsBounded(t *testing.T) {
	run := newVoiceRun(t, newVoiceLedger(t, 1))
	var steps []any
	for range 20 {
		steps = append(steps, &Interruption{})
	}
	run.play(append(steps, &SessionClosed{})...)
	in := voiceInput()
	in.Options = &VoiceOptions{TimelineSize: 5}
	sum := run.execute(t, in)
	if len(sum.Timeline) != 5 || sum.TimelineDropped != 20+3-5 || sum.Totals.Interruptions != 20 {
		t.Fatalf("timeline %d entries, %d dropped, %d interruptions", len(sum.Timeline), sum.TimelineDropped, sum.Totals.Interruptions)
	}
	if last := sum.Timeline[len(sum.Timeline)-1]; last.Kind != "closed" {
		t.Fatalf("the timeline keeps the newest entries; last is %+v", last)
	}
}

func TestVoiceSessionContinueAsNewCarriesState(t *testing.T) {
	model := voiceModel(t)
	l := newVoiceLedger(t, 1_000_000)
	first := newVoiceRun(t, l)
	// Three signals per run; r1's hold stays open across the runs.
	first.play(&TurnStarted{TurnID: "t1"}, reserve{ResponseID: "r1", EstimatedInputTokens: 500},
		&TurnEnded{TurnID: "t1"}, &GateSnapshot{TurnState: "idle"})
	in := voiceInput()
	in.Options = &VoiceOptions{MaxSignalsPerRun: 3}
	first.env.ExecuteWorkflow(VoiceSession, in)
	var can *workflow.ContinueAsNewError
	if err := first.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new, got %v", err)
	}
	var next VoiceSessionInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	c := next.Carry
	if c == nil || c.Totals.Turns != 1 || c.Totals.Signals != 3 || c.LastSeq != 3 ||
		c.LastSnapshot == nil || c.Runs != 1 || next.Options == nil || next.Options.MaxSignalsPerRun != 3 {
		t.Fatalf("carry %+v (options %+v)", c, next.Options)
	}
	if r := c.Open["r1"]; r == nil || r.Billing != BillingHeld || r.ReservationID == "" {
		t.Fatalf("open r1 = %+v", c.Open["r1"])
	}

	second := newVoiceRun(t, l)
	next.Options.MaxSignalsPerRun = 100 // this run ends by session-closed
	d := done("r1", ResponseCompleted, 400, 50)
	d.Seq = 4
	stale := &TurnStarted{TurnID: "t0"} // a resend of Seq 1: already handled
	stale.Seq = 1
	interrupt := &Interruption{}
	interrupt.Seq = 5
	closed := &SessionClosed{}
	closed.Seq = 6
	second.play(stale, d, interrupt, closed)
	sum := second.execute(t, next)
	if sum.Runs != 2 || sum.Totals.Turns != 1 || sum.Totals.Interruptions != 1 || sum.Totals.DuplicateSignals != 1 ||
		sum.Totals.Captured != 1 || sum.Totals.BilledTotal != model.Cost(400, 50) {
		t.Fatalf("summary after continue-as-new: %+v", sum)
	}
	if !inOrder(kinds(sum.Timeline), []string{"turn-started", "hold", "turn-ended", "response-done", "interruption", "closed"}) {
		t.Fatalf("timeline %v", kinds(sum.Timeline))
	}
}

func TestVoiceSessionCancelledReleasesHolds(t *testing.T) {
	l := newVoiceLedger(t, 1_000_000)
	run := newVoiceRun(t, l)
	run.play(&TurnStarted{TurnID: "t1"}, reserve{ResponseID: "r1"})
	run.env.RegisterDelayedCallback(run.env.CancelWorkflow, 5*time.Second)
	run.env.ExecuteWorkflow(VoiceSession, voiceInput())
	if err := run.env.GetWorkflowError(); !temporal.IsCanceledError(err) {
		t.Fatalf("err = %v, want cancelled", err)
	}
	if res := run.results["r1"]; !res.OK {
		t.Fatalf("r1 = %+v", res)
	}
	bal, err := l.Balance(context.Background(), voiceUser)
	if err != nil {
		t.Fatal(err)
	}
	if bal.Held != 0 || bal.Spent != 0 || bal.Available != 1_000_000 {
		t.Fatalf("balance %+v: the cancelled session kept a hold", bal)
	}
}

func TestVoiceReserveValidation(t *testing.T) {
	l := newVoiceLedger(t, 1_000_000)
	run := newVoiceRun(t, l)
	run.play(reserve{ResponseID: ""}, reserve{ResponseID: "r1", EstimatedInputTokens: -1},
		reserve{ResponseID: "r2"}, done("r2", ResponseCompleted, 10, 10), reserve{ResponseID: "r2"}, &SessionClosed{})
	sum := run.execute(t, voiceInput())
	for _, id := range []string{"", "r1"} {
		if run.rejects[id] == nil {
			t.Errorf("reserve %q was not rejected", id)
		}
	}
	// r2's first reserve succeeded; the one after its response-done is refused.
	if res := run.results["r2"]; !res.OK || run.rejects["r2"] == nil {
		t.Errorf("r2: result %+v, reject %v", res, run.rejects["r2"])
	}
	if sum.Totals.Captured != 1 {
		t.Errorf("totals %+v", sum.Totals)
	}
}

func TestVoiceSessionInvalidInput(t *testing.T) {
	for _, in := range []VoiceSessionInput{
		{SessionID: "s1"},
		{UserID: "u"},
		{SessionID: "s1", UserID: "u", Options: &VoiceOptions{InactivityTimeoutMs: 1}},
		{SessionID: "s1", UserID: "u", Options: &VoiceOptions{TimelineSize: MaxVoiceTimeline + 1}},
	} {
		run := newVoiceRun(t, newVoiceLedger(t, 1))
		run.env.ExecuteWorkflow(VoiceSession, in)
		var appErr *temporal.ApplicationError
		if err := run.env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != string(wire.CodeVoiceInvalidInput) {
			t.Errorf("%+v: err = %v", in, err)
		}
	}
}

// The worker registers workflows.SearchAttributes on a server that lacks
// them, and the dev server gets them from temporal-dev.yaml: both must list
// the voice session's.
func TestVoiceSearchAttributesRegistered(t *testing.T) {
	env, err := devserver.Load(filepath.Join("..", "temporal-dev.yaml"), "dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []temporal.SearchAttributeKey{VoiceUserKey, VoiceStateKey, VoiceOwnerKey} {
		if !slices.Contains(SearchAttributes, key) {
			t.Errorf("SearchAttributes lacks %s", key.GetName())
		}
		if !slices.Contains(env.SearchAttributes, key.GetName()+"=Keyword") {
			t.Errorf("temporal-dev.yaml lacks %s=Keyword", key.GetName())
		}
	}
}

func TestVoiceSessionMetrics(t *testing.T) {
	reg, s := metricsSuite(t)
	l := newVoiceLedger(t, 1_000_000)
	run := newVoiceRunIn(t, l, s)
	l.failRelease = 1000 // r2's hold, released at close, goes to the DLQ
	run.play(reserve{ResponseID: "r1"}, done("r1", ResponseCompleted, 1000, 100), reserve{ResponseID: "r2"}, &SessionClosed{})
	if sum := run.execute(t, voiceInput()); sum.Totals.Reconciling != 1 {
		t.Fatalf("totals %+v", sum.Totals)
	}
	charged := voiceModel(t).Cost(1000, 100)
	wantSum(t, reg, "voice_billing_charged_micro_credits_total", map[string]string{"modelId": "offline-small"}, float64(charged))
	wantSum(t, reg, "voice_session_closed_total", map[string]string{"modelId": "offline-small", "state": "CLOSED"}, 1)
	if n := len(metricstest.Get(t, reg, "voice_billing_failure_total")); n != 1 {
		t.Errorf("voice_billing_failure_total: %d series", n)
	}
}

// A session that started before voice-reconcile-always keeps the old
// behaviour on replay: a reserve that failed for want of the ledger leaves
// the response unbilled, with no reconciliation; a release whose DLQ record
// could not be written starts none either.
func TestVoiceReconcileAlwaysVersion(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(*flakyLedger)
		end   ResponseStatus
	}{
		{"lost reserve", func(f *flakyLedger) { f.failReserve, f.lostReplies = 1000, true }, ResponseCompleted},
		{"release without its DLQ record", func(f *flakyLedger) { f.failRelease, f.failDLQ = 1000, 1000 }, ResponseCancelled},
	} {
		for _, old := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, old run %v", tt.name, old), func(t *testing.T) {
				l := newVoiceLedger(t, 1_000_000)
				tt.setup(l)
				run := newVoiceRun(t, l)
				if old {
					run.env.OnGetVersion(voiceReconcileAlwaysChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
				}
				run.play(reserve{ResponseID: "r1"}, done("r1", tt.end, 100, 10), &SessionClosed{})
				sum := run.execute(t, voiceInput())
				want := 1
				if old {
					want = 0
				}
				if len(run.reconciles) != want || sum.Totals.BillingFailures == 0 {
					t.Errorf("reconciles %+v (want %d), totals %+v", run.reconciles, want, sum.Totals)
				}
			})
		}
	}
}
