package workflows

import (
	"context"
	"testing"

	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/wire"
)

// A realtime process cut off from Temporal for longer than its lease: the
// session closes (ORPHANED, or TIMED_OUT without an owner) with a response
// in flight and releases its hold; the response's completion reaches a new
// run of the session, which finds the response's hold key spent.
func TestVoiceLateBillingAfterReleasedHold(t *testing.T) {
	const credit = 1_000_000
	model := voiceModel(t)
	tests := []struct {
		name    string
		owner   string // "": no lease, the session times out
		in, out int    // the response's usage
		oldRun  bool   // the second run started before voice-late-rebill
		// charged: what the ledger has spent in the end; holds: holds made.
		charged int64
		holds   int
		state   VoiceState
		events  []string // second run, in order
	}{
		{name: "orphaned; usage within the released hold: billed under the rebill key", owner: "rt-1", in: 900, out: 300,
			charged: model.Cost(900, 300), holds: 2, state: VoiceOrphaned,
			events: []string{"response-done", "bill-late", "hold-found", "rebill", "captured"}},
		{name: "orphaned; usage beyond the released hold: billed under the rebill key", owner: "rt-1", in: 6000, out: 500,
			charged: model.Cost(6000, 500), holds: 2, state: VoiceOrphaned,
			events: []string{"response-done", "bill-late", "hold-found", "rebill", "captured"}},
		{name: "orphaned; usage the size of the hold (no conflict on its key)", owner: "rt-1", in: DefaultVoiceInputTokens, out: 10,
			charged: model.Cost(DefaultVoiceInputTokens, 10), holds: 2, state: VoiceOrphaned,
			events: []string{"response-done", "bill-late", "rebill", "captured"}},
		{name: "timed out (no owner): the same", in: 900, out: 300,
			charged: model.Cost(900, 300), holds: 2, state: VoiceTimedOut,
			events: []string{"response-done", "bill-late", "hold-found", "rebill", "captured"}},
		{name: "a run from before the change: recorded unbilled, as it was", owner: "rt-1", in: 900, out: 300, oldRun: true,
			charged: 0, holds: 1, state: VoiceOrphaned,
			events: []string{"response-done", "bill-late", "unbilled"}},
		{name: "a run from before the change, usage the size of the hold: unbilled on HOLD_NOT_ACTIVE", owner: "rt-1",
			in: DefaultVoiceInputTokens, out: 10, oldRun: true,
			charged: 0, holds: 1, state: VoiceOrphaned,
			events: []string{"response-done", "bill-late", "unbilled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newVoiceLedger(t, credit)
			in := voiceInput()
			in.Owner = tt.owner
			in.Options = &VoiceOptions{InactivityTimeoutMs: 30_000}
			if tt.owner != "" {
				in.Options.OwnerLeaseMs = 10_000
			}

			// First run: the hold, then silence: the session closes and
			// releases it.
			first := newVoiceRun(t, l)
			first.play(&TurnStarted{TurnID: "t1"}, reserve{ResponseID: "r1", TurnID: "t1"}, &ResponseStarted{ResponseID: "r1", TurnID: "t1"})
			if sum := first.execute(t, in); sum.State != tt.state || sum.Totals.Released != 1 {
				t.Fatalf("first run: state %s, totals %+v", sum.State, sum.Totals)
			}

			// Second run (signal-with-start): the response's completion,
			// delivered twice (a retried send), then the hang-up.
			second := newVoiceRun(t, l)
			if tt.oldRun {
				second.env.OnGetVersion(voiceLateRebillChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			}
			d := done("r1", ResponseCompleted, tt.in, tt.out)
			d.Seq = 4
			again := *d
			closed := &SessionClosed{Reason: "hangup"}
			closed.Seq = 5
			second.play(d, &again, closed)
			sum := second.execute(t, in)
			wantFailures := 0
			if tt.oldRun {
				wantFailures = 1
			}
			if sum.State != VoiceClosed || sum.Totals.BillingFailures != wantFailures || sum.HeldAmount != 0 || len(sum.OpenResponses) != 0 {
				t.Errorf("second run: state %s, totals %+v, held %d", sum.State, sum.Totals, sum.HeldAmount)
			}
			if got := kinds(sum.Timeline); !inOrder(got, tt.events) {
				t.Errorf("second run: timeline %v lacks %v in order", got, tt.events)
			}
			if !tt.oldRun && sum.Totals.BilledTotal != tt.charged {
				t.Errorf("second run billed %d, want %d", sum.Totals.BilledTotal, tt.charged)
			}

			// A third run gets the completion once more (the send retried
			// after the second run closed): the ledger replays, nothing new
			// is charged.
			third := newVoiceRun(t, l)
			if tt.oldRun {
				third.env.OnGetVersion(voiceLateRebillChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			}
			d3, closed3 := *d, *closed
			third.play(&d3, &closed3)
			third.execute(t, in)

			bal, err := l.Balance(context.Background(), voiceUser)
			if err != nil {
				t.Fatal(err)
			}
			if bal.Spent != tt.charged || bal.Held != 0 || bal.Available+bal.Spent != credit {
				t.Errorf("balance %+v, want spent %d, nothing held", bal, tt.charged)
			}
			holds, err := l.Holds(context.Background(), voiceUser)
			if err != nil {
				t.Fatal(err)
			}
			if len(holds) != tt.holds {
				t.Errorf("%d holds, want %d: %+v", len(holds), tt.holds, holds)
			}
			captured := 0
			for _, h := range holds {
				if h.Status == ledger.HoldCaptured {
					captured++
				}
			}
			if want := min(int(tt.charged), 1); captured != want {
				t.Errorf("%d holds captured, want %d: %+v", captured, want, holds)
			}
		})
	}
}

// A response billed before the session closed, whose completion a new run
// gets again: the ledger replays the capture; nothing is charged twice.
func TestVoiceLateBillingOfABilledResponse(t *testing.T) {
	model := voiceModel(t)
	for _, usage := range [][2]int{{900, 300}, {6000, 500}} { // within the hold; beyond it (rebilled in the first run)
		l := newVoiceLedger(t, 1_000_000)
		in := voiceInput()
		in.Owner, in.Options = "rt-1", &VoiceOptions{OwnerLeaseMs: 10_000}
		first := newVoiceRun(t, l)
		d := done("r1", ResponseCompleted, usage[0], usage[1])
		first.play(reserve{ResponseID: "r1"}, d)
		if sum := first.execute(t, in); sum.State != VoiceOrphaned || sum.Totals.Captured != 1 {
			t.Fatalf("first run: state %s, totals %+v", sum.State, sum.Totals)
		}
		second := newVoiceRun(t, l)
		d2 := *d
		closed := &SessionClosed{}
		closed.Seq = d.Seq + 1
		second.play(&d2, closed)
		second.execute(t, in)
		bal, err := l.Balance(context.Background(), voiceUser)
		if err != nil {
			t.Fatal(err)
		}
		if want := model.Cost(usage[0], usage[1]); bal.Spent != want || bal.Held != 0 {
			t.Errorf("usage %v: balance %+v, want spent %d once", usage, bal, want)
		}
	}
}

func TestVoiceLateRebillMetric(t *testing.T) {
	reg, s := metricsSuite(t)
	l := newVoiceLedger(t, 1_000_000)
	in := voiceInput()
	in.Owner = "rt-1"
	first := newVoiceRunIn(t, l, s)
	first.play(reserve{ResponseID: "r1"})
	first.execute(t, in)
	second := newVoiceRunIn(t, l, s)
	second.play(done("r1", ResponseCompleted, 100, 10), &SessionClosed{})
	second.execute(t, in)
	wantSum(t, reg, "voice_billing_rebilled_total", map[string]string{"modelId": "offline-small", "reason": wire.ReasonHoldNotActive}, 1)
}
