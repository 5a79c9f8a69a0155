package gate

import (
	"runtime"
	"slices"
	"testing"
	"time"
)

// TestAdmittedIsNeverEvicted bursts frames at a busy uplink faster than its
// worker can pick them up (GOMAXPROCS 1: the worker cannot run until the
// test goroutine blocks). A frame reported Admitted holds an uplink slot and
// must reach the uplink; frames reported Queued may be evicted under
// drop_oldest, but each eviction must be reported by EventFrameDropped
// before the evicting call returns. Burst capacity is queue depth plus
// concurrency.
func TestAdmittedIsNeverEvicted(t *testing.T) {
	tests := []struct {
		name        string
		conc, depth int
		burst       int
		admitted    []uint64
		evicted     []uint64
	}{
		{"one slot", 1, 4, 7, []uint64{1}, []uint64{2, 3}},
		{"two slots", 2, 2, 6, []uint64{1, 2}, []uint64{3, 4}},
		{"exact capacity", 1, 3, 4, []uint64{1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prev := runtime.GOMAXPROCS(1)
			defer runtime.GOMAXPROCS(prev)
			up := &recUplink{release: make(chan struct{})}
			h := newHarness(t, Config{MaxConcurrentUplinks: tc.conc, MaxQueueDepth: tc.depth, UplinkTimeout: time.Hour}, Deps{Uplink: up})
			var admitted, accepted []uint64
			droppedAt := map[uint64]uint64{} // evicted seq -> seq of the call that reported it
			for i := 0; i < tc.burst; i++ {
				before := len(h.log.of(EventFrameDropped))
				out, err := h.g.ProcessFrame(mkFrame(kSpeech))
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range h.log.of(EventFrameDropped)[before:] {
					if e.Reason != string(ReasonQueueBackpressure) {
						t.Fatalf("eviction reason %q", e.Reason)
					}
					droppedAt[e.Seq] = out.Seq
				}
				switch out.Action {
				case Admitted:
					admitted = append(admitted, out.Seq)
					if out.QueueDepth != 0 || out.Inflight != len(admitted) {
						t.Fatalf("admitted frame %d: queue %d inflight %d", out.Seq, out.QueueDepth, out.Inflight)
					}
				case Queued:
				default:
					t.Fatalf("frame %d: %s/%s", out.Seq, out.Action, out.Reason)
				}
				accepted = append(accepted, out.Seq)
			}
			if !slices.Equal(admitted, tc.admitted) {
				t.Fatalf("admitted %v, want %v", admitted, tc.admitted)
			}
			close(up.release)
			h.drain()
			got := up.delivered()
			slices.Sort(got)
			var evicted []uint64
			for _, seq := range accepted {
				_, dropped := droppedAt[seq]
				delivered := slices.Contains(got, seq)
				if dropped == delivered {
					t.Fatalf("frame %d: delivered %v, reported dropped %v", seq, delivered, dropped)
				}
				if dropped {
					evicted = append(evicted, seq)
					if slices.Contains(admitted, seq) {
						t.Fatalf("admitted frame %d evicted", seq)
					}
				}
			}
			if !slices.Equal(evicted, tc.evicted) {
				t.Fatalf("evicted %v, want %v (delivered %v)", evicted, tc.evicted, got)
			}
			if m := h.g.Metrics(); m.FramesDroppedQueueBackpressure != uint64(len(tc.evicted)) {
				t.Fatalf("backpressure drops %d", m.FramesDroppedQueueBackpressure)
			}
		})
	}
}

// TestCloseReportsDiscardedFrames: frames admitted (slot reserved but not
// yet sent), queued or held when the gate closes are reported dropped.
func TestCloseReportsDiscardedFrames(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	up := &recUplink{}
	h := newHarness(t, Config{}, Deps{Uplink: up})
	want := []Action{Admitted, Queued}
	for _, w := range want {
		if out := h.step(kSpeech); out.Action != w {
			t.Fatalf("frame %d: %s, want %s", out.Seq, out.Action, w)
		}
	}
	h.event(ServerResponseCreated, "r1")
	if out := h.step(kSpeech); out.Action != Held {
		t.Fatalf("frame %d: %s, want held", out.Seq, out.Action)
	}
	h.g.Close()
	var got []uint64
	for _, e := range h.log.of(EventFrameDropped) {
		if e.Reason != string(ReasonGateClosed) {
			t.Fatalf("reason %q", e.Reason)
		}
		got = append(got, e.Seq)
	}
	if !slices.Equal(got, []uint64{1, 2, 3}) || len(up.delivered()) != 0 {
		t.Fatalf("dropped %v, delivered %v", got, up.delivered())
	}
	if s := h.g.Snapshot(); s.Inflight != 0 || s.QueueDepth != 0 {
		t.Fatalf("after close: inflight %d queue %d", s.Inflight, s.QueueDepth)
	}
}
