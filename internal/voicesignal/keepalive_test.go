package voicesignal

import (
	"context"
	"testing"
	"time"

	"github.com/inferflow/inferflow/workflows"
)

// newOwned is a Signaller of a session with an owner, keeping alive every
// `every`.
func newOwned(t *testing.T, f *fakeClient, every time.Duration) *Signaller {
	t.Helper()
	s, err := New(Config{Client: f, TaskQueue: "q", KeepAliveEvery: every,
		Session:    workflows.VoiceSessionInput{SessionID: "s1", UserID: "u1", Owner: "rt-1", Options: &workflows.VoiceOptions{OwnerLeaseMs: 1000}},
		MinBackoff: 2 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, UpdateTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

func count(calls []call, name workflows.VoiceSignalName) int {
	n := 0
	for _, c := range calls {
		if c.name == string(name) {
			n++
		}
	}
	return n
}

// A busy session sends no keep-alive: its records renew the lease. Once it
// goes quiet, keep-alives follow, one per interval, numbered in order with
// the records; session-closed ends them.
func TestSignallerKeepAlivesOnlyWhenQuiet(t *testing.T) {
	const every = 40 * time.Millisecond
	f := &fakeClient{}
	s := newOwned(t, f, every)

	// Busy: a record every 10 ms for 400 ms (ten intervals).
	for i := range 40 {
		if err := s.Send(&workflows.GateSnapshot{TurnState: "idle", FramesTotal: uint64(i)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(t, "the records delivered", func() bool { return s.Stats().Pending == 0 })
	if n := count(f.accepted(), workflows.SignalKeepAlive); n != 0 {
		t.Fatalf("a busy session sent %d keep-alives", n)
	}

	// Quiet for ten intervals: about ten keep-alives (timers run late
	// under load, never early).
	time.Sleep(10 * every)
	n := count(f.accepted(), workflows.SignalKeepAlive)
	if n < 4 || n > 11 {
		t.Fatalf("%d keep-alives in ten quiet intervals, want about ten, never more", n)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := f.accepted()
	for i, c := range got {
		if c.seq != uint64(i+1) {
			t.Fatalf("call %d (%s) has seq %d: keep-alives are numbered with the records", i, c.name, c.seq)
		}
	}
	if last := got[len(got)-1]; last.name != string(workflows.SignalSessionClosed) {
		t.Fatalf("last call %+v, want session-closed", last)
	}
	time.Sleep(3 * every)
	if after := f.accepted(); len(after) != len(got) {
		t.Fatalf("%d calls after session-closed", len(after)-len(got))
	}
	if st := s.Stats(); st.KeepAlives != uint64(count(got, workflows.SignalKeepAlive)) {
		t.Fatalf("stats %+v, %d keep-alives delivered", st, count(got, workflows.SignalKeepAlive))
	}
}

// No keep-alive before the workflow exists, and none that would start it
// again: a keep-alive that finds the session ended is dropped, and the next
// record starts it.
func TestSignallerKeepAliveNeverStartsTheWorkflow(t *testing.T) {
	const every = 20 * time.Millisecond
	f := &fakeClient{}
	s := newOwned(t, f, every)
	time.Sleep(5 * every)
	if got := f.accepted(); len(got) != 0 {
		t.Fatalf("calls before any record: %+v", got)
	}
	_ = s.Send(&workflows.TurnStarted{TurnID: "t1"})
	waitFor(t, "a keep-alive", func() bool { return s.Stats().KeepAlives > 0 })
	f.mu.Lock()
	f.running = false // the session closed ORPHANED (e.g. across a partition)
	f.mu.Unlock()
	time.Sleep(5 * every)
	got := f.accepted()
	for _, c := range got {
		if c.method == "start" && c.name != string(workflows.SignalTurnStarted) {
			t.Fatalf("%+v started the workflow", c)
		}
	}
	_ = s.Send(&workflows.TurnEnded{TurnID: "t1"})
	waitFor(t, "the record", func() bool { return count(f.accepted(), workflows.SignalTurnEnded) == 1 })
	if last := f.accepted()[len(f.accepted())-1]; last.method != "start" {
		t.Fatalf("the record after the session ended went by %s, want start", last.method)
	}
}

// A reserve-response answered renews the lease as a record does.
func TestSignallerReserveRenewsLease(t *testing.T) {
	const every = 50 * time.Millisecond
	f := &fakeClient{update: func(context.Context, workflows.ReserveResponseRequest) (workflows.ReserveResponseResult, error) {
		return workflows.ReserveResponseResult{OK: true}, nil
	}}
	s := newOwned(t, f, every)
	_ = s.Send(&workflows.TurnStarted{TurnID: "t1"})
	waitFor(t, "the record", func() bool { return s.Stats().Sent == 1 })
	for i := range 10 {
		if _, err := s.ReserveResponse(context.Background(), workflows.ReserveResponseRequest{ResponseID: "r" + string(rune('0'+i))}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(every / 5)
	}
	if n := count(f.accepted(), workflows.SignalKeepAlive); n != 0 {
		t.Fatalf("%d keep-alives while updates renewed the lease", n)
	}
}

func TestKeepAliveConfig(t *testing.T) {
	base := Config{Client: &fakeClient{}, TaskQueue: "q",
		Session: workflows.VoiceSessionInput{SessionID: "s", UserID: "u", Owner: "rt-1", Options: &workflows.VoiceOptions{OwnerLeaseMs: 60_000}}}
	for _, tt := range []struct {
		name  string
		every time.Duration
		owner string
		want  time.Duration // 0: refused
	}{
		{"default: a third of the lease", 0, "rt-1", 20 * time.Second},
		{"set", 5 * time.Second, "rt-1", 5 * time.Second},
		{"over half the lease", 31 * time.Second, "rt-1", 0},
		{"negative", -time.Second, "rt-1", 0},
		{"no owner, none", 0, "", -1},
		{"no owner, set", time.Second, "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			c.KeepAliveEvery, c.Session.Owner = tt.every, tt.owner
			if tt.owner == "" {
				c.Session.Options = nil
			}
			err := c.validate()
			switch {
			case tt.want == 0 && err == nil:
				t.Fatalf("accepted: every %s", c.KeepAliveEvery)
			case tt.want == -1 && (err != nil || c.KeepAliveEvery != 0):
				t.Fatalf("every %s, %v: want none", c.KeepAliveEvery, err)
			case tt.want > 0 && (err != nil || c.KeepAliveEvery != tt.want):
				t.Fatalf("every %s, %v: want %s", c.KeepAliveEvery, err, tt.want)
			}
		})
	}
}
