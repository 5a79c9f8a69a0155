package workflows

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/wire"
)

// keepAlives are script steps: a keep-alive every `every`, from `from` for
// n of them.
func keepAlives(from, every time.Duration, n int) []any {
	steps := []any{}
	for i := range n {
		steps = append(steps, at(from+time.Duration(i)*every), &KeepAlive{})
	}
	return steps
}

// eventAt is the workflow time of the first timeline entry of kind.
func eventAt(t *testing.T, sum VoiceSummary, kind string) time.Time {
	t.Helper()
	for _, e := range sum.Timeline {
		if e.Kind == kind {
			return e.At
		}
	}
	t.Fatalf("no %q in the timeline %v", kind, kinds(sum.Timeline))
	return time.Time{}
}

func TestVoiceOwnerLease(t *testing.T) {
	const credit = 1_000_000
	lease := 10 * time.Second
	opts := &VoiceOptions{OwnerLeaseMs: int(lease.Milliseconds()), InactivityTimeoutMs: 30_000}
	tests := []struct {
		name     string
		owner    string
		steps    []any
		oldRun   bool // the run started before the lease (GetVersion gives DefaultVersion)
		state    VoiceState
		released int
		// closedAfter is the time from the last activity (the hold) to
		// the close; keepAlives the renewals counted.
		closedAfter time.Duration
		keepAlives  int
		events      []string
	}{
		{name: "the owner goes quiet: ORPHANED when the lease ends, its hold released", owner: "rt-1",
			steps: []any{&TurnStarted{TurnID: "t1"}, reserve{ResponseID: "r1"}},
			state: VoiceOrphaned, released: 1, closedAfter: lease,
			events: []string{"hold", "lease-expired", "closing", "released", "closed"}},
		{name: "keep-alives renew the lease, but are not activity: TIMED_OUT at the inactivity timeout", owner: "rt-1",
			steps: append([]any{&TurnStarted{TurnID: "t1"}, reserve{ResponseID: "r1"}}, keepAlives(5*time.Second, 4*time.Second, 20)...),
			state: VoiceTimedOut, released: 1, closedAfter: 30 * time.Second, keepAlives: 7, // at 5, 9, ... 29 s
			events: []string{"hold", "closing", "released", "closed"}},
		{name: "renewed until the owner hangs up: CLOSED", owner: "rt-1",
			steps: append(append([]any{reserve{ResponseID: "r1"}}, keepAlives(5*time.Second, 9*time.Second, 3)...),
				at(25*time.Second), &SessionClosed{Reason: "hangup"}),
			state: VoiceClosed, released: 1, closedAfter: 24 * time.Second, keepAlives: 3,
			events: []string{"hold", "session-closed", "closing", "released", "closed"}},
		{name: "the restarted owner closes what it lost: ORPHANED", owner: "rt-1",
			steps: []any{reserve{ResponseID: "r1"}, &SessionClosed{Reason: "realtime process restarted", Orphaned: true}},
			state: VoiceOrphaned, released: 1, closedAfter: time.Second,
			events: []string{"hold", "session-closed", "closing", "released", "closed"}},
		{name: "no owner, no lease: TIMED_OUT at the inactivity timeout",
			steps: []any{reserve{ResponseID: "r1"}},
			state: VoiceTimedOut, released: 1, closedAfter: 30 * time.Second,
			events: []string{"hold", "closing", "released", "closed"}},
		{name: "a run from before the lease keeps the inactivity timeout alone", owner: "rt-1", oldRun: true,
			steps: []any{reserve{ResponseID: "r1"}},
			state: VoiceTimedOut, released: 1, closedAfter: 30 * time.Second,
			events: []string{"hold", "closing", "released", "closed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newVoiceLedger(t, credit)
			run := newVoiceRun(t, l)
			if tt.oldRun {
				run.env.OnGetVersion(voiceLeaseChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			}
			run.play(tt.steps...)
			in := voiceInput()
			in.Owner = tt.owner
			in.Options = &VoiceOptions{InactivityTimeoutMs: opts.InactivityTimeoutMs}
			if tt.owner != "" {
				in.Options.OwnerLeaseMs = opts.OwnerLeaseMs
			}
			sum := run.execute(t, in)
			if sum.State != tt.state || sum.Totals.Released != tt.released || sum.HeldAmount != 0 || len(sum.OpenResponses) != 0 {
				t.Fatalf("state %s, totals %+v, held %d: want %s with %d released", sum.State, sum.Totals, sum.HeldAmount, tt.state, tt.released)
			}
			if sum.Owner != tt.owner || sum.Totals.KeepAlives != tt.keepAlives {
				t.Errorf("owner %q, keep-alives %d: want %q, %d", sum.Owner, sum.Totals.KeepAlives, tt.owner, tt.keepAlives)
			}
			if got := kinds(sum.Timeline); !inOrder(got, tt.events) {
				t.Errorf("timeline %v lacks %v in order", got, tt.events)
			}
			// Closed on time: from the hold (the last activity) to the close.
			if got := eventAt(t, sum, "closing").Sub(eventAt(t, sum, "hold")); got < tt.closedAfter || got > tt.closedAfter+time.Second {
				t.Errorf("closed %s after the hold, want %s", got, tt.closedAfter)
			}
			if tt.state == VoiceOrphaned && !tt.oldRun && !strings.Contains(sum.CloseReason, "realtime process") {
				t.Errorf("close reason %q does not say the realtime process was lost", sum.CloseReason)
			}
			if n := len(run.states); n == 0 || run.states[n-1] != string(tt.state) {
				t.Errorf("VoiceState upserts %v, want last %s", run.states, tt.state)
			}
			bal, err := l.Balance(context.Background(), voiceUser)
			if err != nil {
				t.Fatal(err)
			}
			if bal.Held != 0 || bal.Spent != 0 || bal.Available != credit {
				t.Errorf("balance %+v: the hold was not released", bal)
			}
		})
	}
}

// The lease window carries over continue-as-new: the next run expires on
// the renewal the first one saw, not on a fresh window of its own.
func TestVoiceOwnerLeaseAcrossContinueAsNew(t *testing.T) {
	l := newVoiceLedger(t, 1_000_000)
	first := newVoiceRun(t, l)
	// Two signals per run: the turn at 1 s and a keep-alive at 4 s end it.
	first.play(&TurnStarted{TurnID: "t1"}, reserve{ResponseID: "r1"}, at(4*time.Second), &KeepAlive{})
	in := voiceInput()
	in.Owner, in.Options = "rt-1", &VoiceOptions{OwnerLeaseMs: 10_000, MaxSignalsPerRun: 2}
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
	// Activity last at the hold (2 s), the lease renewed last by the keep-alive (4 s).
	if c == nil || next.Owner != "rt-1" || c.Totals.KeepAlives != 1 || c.LeaseRenewed.Sub(c.LastActivity) != 2*time.Second {
		t.Fatalf("input %+v, carry %+v", next, c)
	}

	second := newVoiceRun(t, l)
	start := second.env.Now()
	// Move the carried times onto this environment's clock: last heard 8 s ago.
	c.LastActivity, c.LeaseRenewed = start.Add(-10*time.Second), start.Add(-8*time.Second)
	sum := second.execute(t, next)
	if sum.State != VoiceOrphaned || sum.Runs != 2 || sum.Totals.Released != 1 {
		t.Fatalf("summary %+v", sum)
	}
	if got := eventAt(t, sum, "lease-expired").Sub(start); got != 2*time.Second {
		t.Errorf("lease expired %s into the second run, want 2s", got)
	}
}

func TestVoiceOwnerLeaseMetrics(t *testing.T) {
	reg, s := metricsSuite(t)
	run := newVoiceRunIn(t, newVoiceLedger(t, 1_000_000), s)
	run.play(reserve{ResponseID: "r1"})
	in := voiceInput()
	in.Owner = "rt-1"
	if sum := run.execute(t, in); sum.State != VoiceOrphaned {
		t.Fatalf("state %s", sum.State)
	}
	wantSum(t, reg, "voice_session_closed_total", map[string]string{"modelId": "offline-small", "state": "ORPHANED"}, 1)
}

func TestVoiceOwnerLeaseInput(t *testing.T) {
	for _, tt := range []struct {
		name  string
		in    VoiceSessionInput
		lease time.Duration // 0: invalid
	}{
		{"owner, default lease", VoiceSessionInput{Owner: "rt-1"}, DefaultVoiceOwnerLease},
		{"owner, lease set", VoiceSessionInput{Owner: "rt-1", Options: &VoiceOptions{OwnerLeaseMs: 1500}}, 1500 * time.Millisecond},
		{"lease without an owner", VoiceSessionInput{Options: &VoiceOptions{OwnerLeaseMs: 5000}}, 0},
		{"lease under a second", VoiceSessionInput{Owner: "rt-1", Options: &VoiceOptions{OwnerLeaseMs: 999}}, 0},
		{"lease over an hour", VoiceSessionInput{Owner: "rt-1", Options: &VoiceOptions{OwnerLeaseMs: 3_600_001}}, 0},
		{"lease that wraps a Duration", VoiceSessionInput{Owner: "rt-1", Options: &VoiceOptions{OwnerLeaseMs: math.MaxInt}}, 0},
		{"negative lease", VoiceSessionInput{Owner: "rt-1", Options: &VoiceOptions{OwnerLeaseMs: -1}}, 0},
		{"blank owner", VoiceSessionInput{Owner: " "}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.SessionID, tt.in.UserID = "s1", "u"
			set, err := tt.in.settings()
			switch {
			case tt.lease == 0 && err == nil:
				t.Fatalf("accepted, lease %s", set.lease)
			case tt.lease != 0 && (err != nil || set.lease != tt.lease):
				t.Fatalf("lease %s, %v: want %s", set.lease, err, tt.lease)
			}
			if tt.lease != 0 {
				return
			}
			// The workflow refuses it the same way.
			run := newVoiceRun(t, newVoiceLedger(t, 1))
			run.env.ExecuteWorkflow(VoiceSession, tt.in)
			var appErr *temporal.ApplicationError
			if err := run.env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != string(wire.CodeVoiceInvalidInput) {
				t.Errorf("err = %v", err)
			}
		})
	}
}
