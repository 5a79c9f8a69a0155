package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap/zaptest"

	"github.com/inferflow/inferflow/internal/caller"
	"github.com/inferflow/inferflow/internal/codec"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/realtimemodel"
	"github.com/inferflow/inferflow/internal/rtc"
	"github.com/inferflow/inferflow/internal/voice"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/workflows"
)

// The clean Opus fixture holds two utterances (about 0.3–2.9 s and
// 3.5–6.9 s); gapAt is a packet in the pause between them.
const (
	voiceFixture = "../internal/codec/testdata/speech-clean.opus.pkts"
	voiceGapAt   = 160
	voiceToken   = "integration-token"
)

type realtimeEnv struct {
	ledger ledger.Ledger
	client client.Client
	calls  *voice.Calls
	url    string // the WHIP endpoint
	base   string // the server's root
	user   string
	credit int64
}

// newRealtimeEnv runs what `make run` runs, on loopback: a worker with the
// voice workflow and a SQLite ledger, and the realtime process's calls
// (WHIP, Pion, the simulated model, signals to the dev server). serve, if
// set, wraps the calls' handler (the voice page does).
func newRealtimeEnv(t *testing.T, serve func(http.Handler) http.Handler) *realtimeEnv {
	skipShort(t)
	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Config{DSN: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	e := &realtimeEnv{ledger: l, client: dial(t), user: fmt.Sprintf("caller-%d", time.Now().UnixNano()), credit: 1_000_000}
	if err := l.Credit(ctx, e.user, e.credit, "seed-"+e.user); err != nil {
		t.Fatal(err)
	}
	queue := uniqueQueue(t)
	startWorker(t, e.client, queue, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Ledger: l, Environment: "test"})
	})
	net := loopback(t)
	calls, err := voice.NewCalls(voice.CallsConfig{
		RTC:       rtc.Config{Tokens: map[string]string{voiceToken: e.user}, Network: net},
		TaskQueue: queue,
		ModelID:   "offline-small",
		Temporal:  e.client,
		NewModel: func(_ context.Context, id string) (realtimemodel.Upstream, error) {
			return realtimemodel.NewSimulated(realtimemodel.SimConfig{SessionID: id})
		},
		Logger: zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = calls.Handler()
	if serve != nil {
		h = serve(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := calls.Close(ctx); err != nil {
			t.Errorf("calls did not end: %v", err)
		}
		srv.Close()
	})
	e.calls, e.base, e.url = calls, srv.URL, srv.URL+rtc.WHIPPath
	return e
}

func loopback(t *testing.T) rtc.Network {
	n, err := rtc.LoopbackNetwork()
	if errors.Is(err, rtc.ErrNoLoopback) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// callPackets is the fixture, with silence packets of the given lengths
// inserted after the first utterance and at the end.
func callPackets(t *testing.T, pause, tail int) [][]byte {
	pkts, err := codec.ReadPacketFile(voiceFixture)
	if err != nil {
		t.Fatal(err)
	}
	quiet, err := caller.Silence()
	if err != nil {
		t.Fatal(err)
	}
	out := slices.Clone(pkts[:voiceGapAt])
	for range pause {
		out = append(out, quiet)
	}
	out = append(out, pkts[voiceGapAt:]...)
	for range tail {
		out = append(out, quiet)
	}
	return out
}

// call makes one call and returns what the caller saw and the session's
// final summary.
func (e *realtimeEnv) call(t *testing.T, o caller.Options) (caller.Result, workflows.VoiceSummary) {
	t.Helper()
	ctx := ctxFor(t, 2*time.Minute)
	o.URL, o.Token = e.url, voiceToken
	res, err := caller.Run(ctx, o)
	if err != nil {
		t.Fatalf("call: %v (events: %+v)", err, res.Messages)
	}
	var wfID string
	for _, m := range res.Messages {
		if m.Type == voice.MsgSessionStarted {
			wfID = m.WorkflowID
		}
	}
	if wfID == "" {
		t.Fatalf("no session.started with a workflow id among %d events", len(res.Messages))
	}
	var sum workflows.VoiceSummary
	if err := e.client.GetWorkflow(ctx, wfID, "").Get(ctx, &sum); err != nil {
		t.Fatalf("VoiceSession %s: %v", wfID, err)
	}
	return res, sum
}

// expectedCharge prices each completed response at the catalog's rates,
// rounded up to the micro-credit per response, as the ledger does.
func expectedCharge(res caller.Result) int64 {
	m := ledger.DefaultCatalog()[0] // offline-small
	var total int64
	for _, msg := range res.Messages {
		if msg.Type != voice.MsgResponseDone || msg.Status != realtimemodel.StatusCompleted || msg.Usage == nil {
			continue
		}
		raw := int64(msg.Usage.InputTokens)*m.PromptPer1K + int64(msg.Usage.OutputTokens)*m.CompletionPer1K
		total += (raw + 999) / 1000
	}
	return total
}

func (e *realtimeEnv) checkLedger(t *testing.T, res caller.Result, sum workflows.VoiceSummary) {
	t.Helper()
	want := expectedCharge(res)
	if want == 0 {
		t.Fatal("no completed response to bill")
	}
	if sum.Totals.BilledTotal != want {
		t.Errorf("session billed %d micro-credits, the responses' usage prices at %d", sum.Totals.BilledTotal, want)
	}
	b, err := e.ledger.Balance(context.Background(), e.user)
	if err != nil {
		t.Fatal(err)
	}
	if b.Spent != want || b.Held != 0 || b.Available != e.credit-want {
		t.Errorf("balance = %+v, want spent %d, held 0, available %d", b, want, e.credit-want)
	}
}

// Two utterances with a pause: two turns, two responses, each held before
// it started and captured at its usage; the ledger agrees to the
// micro-credit and nothing stays held.
func TestRealtimeCallTurnsAndBilling(t *testing.T) {
	e := newRealtimeEnv(t, nil)
	res, sum := e.call(t, caller.Options{Packets: callPackets(t, 175, 25)})
	if got := sum.Totals.Turns; got < 1 || got > 3 {
		t.Errorf("turns = %d, want 2±1", got)
	}
	if sum.Totals.Completed != 2 || sum.Totals.Captured != 2 || sum.Totals.Responses != 2 {
		t.Errorf("totals = %+v, want 2 responses completed and captured", sum.Totals)
	}
	if sum.State != workflows.VoiceClosed || len(sum.OpenResponses) != 0 || sum.HeldAmount != 0 {
		t.Errorf("session state %s, open responses %v, held %d: want CLOSED with nothing open", sum.State, sum.OpenResponses, sum.HeldAmount)
	}
	if n := res.Count(voice.MsgResponseDone); n != 2 {
		t.Errorf("caller saw %d response.done, want 2", n)
	}
	if res.AudioIn < 50 {
		t.Errorf("caller heard %d assistant packets, want the replies", res.AudioIn)
	}
	e.checkLedger(t, res, sum)
	// The caller was told what each answer cost and the balance after.
	var charged int64
	var balance *int64
	for _, m := range res.Messages {
		if m.Type == voice.MsgResponseBilled && m.Charged != nil {
			charged += *m.Charged
			balance = m.Balance
		}
	}
	if res.Count(voice.MsgResponseBilled) != 2 || charged != sum.Totals.BilledTotal {
		t.Errorf("response.billed: %d messages charging %d, want 2 charging the session's %d", res.Count(voice.MsgResponseBilled), charged, sum.Totals.BilledTotal)
	}
	if balance == nil || *balance != e.credit-sum.Totals.BilledTotal {
		t.Errorf("last reported balance = %v, want %d", balance, e.credit-sum.Totals.BilledTotal)
	}
}

// The caller speaks again while the assistant answers: the answer stops,
// the model's response is cancelled and its hold released; only completed
// responses are charged.
func TestRealtimeBargeInReleasesHold(t *testing.T) {
	e := newRealtimeEnv(t, nil)
	res, sum := e.call(t, caller.Options{Packets: callPackets(t, 0, 25)})
	if res.Count(voice.MsgInterruption) == 0 || sum.Totals.Interruptions == 0 {
		t.Fatalf("no interruption (caller saw %d, session recorded %d)", res.Count(voice.MsgInterruption), sum.Totals.Interruptions)
	}
	if sum.Totals.Cancelled == 0 || sum.Totals.Released == 0 {
		t.Errorf("totals = %+v, want a cancelled response with its hold released", sum.Totals)
	}
	e.checkLedger(t, res, sum)
}

// 5 % of the caller's packets lost and 5 % reordered: the jitter buffer
// conceals and reorders, the turns still come out and are answered.
func TestRealtimeLossyNetwork(t *testing.T) {
	e := newRealtimeEnv(t, nil)
	res, sum := e.call(t, caller.Options{Packets: callPackets(t, 175, 25),
		RTC: rtc.ClientOptions{DropRate: 0.05, ReorderRate: 0.05, Seed: 7}})
	if got := sum.Totals.Turns; got < 1 || got > 3 {
		t.Errorf("turns = %d, want 2±1", got)
	}
	if sum.Totals.Completed < 1 {
		t.Errorf("totals = %+v, want the turns answered", sum.Totals)
	}
	e.checkLedger(t, res, sum)
}
