package realtimemodel

import (
	"context"
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitFor = 10 * time.Second

func newSim(t testing.TB, cfg SimConfig) *Simulated {
	t.Helper()
	s, err := NewSimulated(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tone16k is a deterministic 16 kHz test signal of n samples.
func tone16k(n int, hz float64) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(6000 * math.Sin(2*math.Pi*hz*float64(i)/InputRate))
	}
	return pcm
}

// sendTurn sends n samples of 16 kHz audio in 20 ms frames.
func sendTurn(t testing.TB, up Upstream, n int, hz float64) {
	t.Helper()
	pcm := tone16k(n, hz)
	ctx := context.Background()
	for len(pcm) > 0 {
		k := min(320, len(pcm))
		if err := up.SendAudio(ctx, pcm[:k]); err != nil {
			t.Fatal(err)
		}
		pcm = pcm[k:]
	}
}

// next returns the next event, failing the test after waitFor.
func next(t testing.TB, up Upstream) (ServerEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-up.Events():
		return ev, ok
	case <-time.After(waitFor):
		t.Fatal("no event within", waitFor)
		return ServerEvent{}, false
	}
}

// collectUntil reads events up to and including the first that stop
// accepts.
func collectUntil(t testing.TB, up Upstream, stop func(ServerEvent) bool) []ServerEvent {
	t.Helper()
	var evs []ServerEvent
	for {
		ev, ok := next(t, up)
		if !ok {
			t.Fatalf("events closed (err %v) after %v", up.Err(), types(evs))
		}
		evs = append(evs, ev)
		if stop(ev) {
			return evs
		}
	}
}

func isType(typ string) func(ServerEvent) bool {
	return func(ev ServerEvent) bool { return ev.Type == typ }
}

func types(evs []ServerEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// drainClosed reads until Events is closed.
func drainClosed(t testing.TB, up Upstream) []ServerEvent {
	t.Helper()
	var evs []ServerEvent
	for {
		ev, ok := next(t, up)
		if !ok {
			return evs
		}
		evs = append(evs, ev)
	}
}

func ctx() context.Context { return context.Background() }

// must fails the test on err.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func verifyNoLeak(t *testing.T) {
	t.Helper()
	goleak.VerifyNone(t)
}
