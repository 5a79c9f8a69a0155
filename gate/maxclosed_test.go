package gate

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestBarrierMaxClosed: a response.done that never comes must not mute the
// user for good. After MaxBarrierClosed the barrier opens by itself, says so
// with EventBarrierForcedOpen (Reason max_closed_time) and flushes what it
// held, whether a frame or the barrier timer notices first.
func TestBarrierMaxClosed(t *testing.T) {
	const maxClosed = 2 * time.Second
	for _, tc := range []struct {
		name   string
		frames bool // keep feeding frames (else the clock jumps, no frames)
	}{
		{"frames keep coming", true},
		{"no frames, timer", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{MaxBarrierClosed: maxClosed}, Deps{})
			h.event(ServerResponseCreated, "r1") // its response.done is lost
			opened := h.clk.Now()
			for i := 0; i < 3; i++ {
				if out := h.step(kSpeech); out.Action != Held {
					t.Fatalf("frame %d: %s", out.Seq, out.Action)
				}
			}
			if tc.frames {
				for h.clk.Now().Sub(opened)+20*time.Millisecond < maxClosed {
					if out := h.step(kSilence); out.Action == Admitted || out.Action == Queued {
						t.Fatalf("admitted at %v, before the max closed time", h.clk.Now().Sub(opened))
					}
				}
				if n := len(h.log.of(EventBarrierForcedOpen)); n != 0 {
					t.Fatalf("forced open early (%d events)", n)
				}
				// This frame lands exactly at the max closed time.
				if out := h.step(kSpeech); out.Action != Admitted && out.Action != Queued {
					t.Fatalf("frame at max closed time: %s/%s", out.Action, out.Reason)
				}
			} else {
				h.clk.Advance(maxClosed - time.Nanosecond - 60*time.Millisecond)
				if n := len(h.log.of(EventBarrierForcedOpen)); n != 0 || !h.g.Snapshot().Barrier.Closed {
					t.Fatal("forced open early")
				}
				h.clk.Advance(time.Nanosecond)
			}
			h.drain()
			evs := h.log.of(EventBarrierForcedOpen)
			if len(evs) != 1 || evs[0].Reason != ReasonMaxClosedTime || evs[0].ResponseID != "r1" || !evs[0].At.Equal(opened.Add(maxClosed)) {
				t.Fatalf("forced-open events %+v (want one at %v)", evs, opened.Add(maxClosed))
			}
			if got := h.up.delivered(); len(got) < 3 || !slices.Equal(got[:3], []uint64{1, 2, 3}) {
				t.Fatalf("held audio not flushed: %v", got)
			}
			s := h.g.Snapshot()
			if s.Barrier.Closed || !s.Barrier.ForcedOpen || s.Metrics.BarrierForcedOpens != 1 || s.Held.Frames != 0 {
				t.Fatalf("snapshot %+v", s)
			}
			// Stays open (no repeat event) until a new response closes it.
			h.step(kSpeech)
			h.event(ServerResponseCreated, "r2")
			if out := h.step(kSpeech); out.Action != Held {
				t.Fatalf("new response: %s", out.Action)
			}
			if s := h.g.Snapshot(); !s.Barrier.Closed || s.Barrier.ForcedOpen || len(h.log.of(EventBarrierForcedOpen)) != 1 {
				t.Fatalf("after r2 %+v", s.Barrier)
			}
		})
	}
}

// TestBarrierMaxClosedPlaybackProbe: a playback probe stuck at "playing"
// is bounded the same way.
func TestBarrierMaxClosedPlaybackProbe(t *testing.T) {
	h := newHarness(t, Config{MaxBarrierClosed: time.Second}, Deps{PlaybackActive: func() bool { return true }})
	start := h.clk.Now()
	for h.clk.Now().Sub(start) < time.Second {
		if out := h.step(kSpeech); out.Action != Held && out.Action != Dropped {
			t.Fatalf("at %v: %s", h.clk.Now().Sub(start), out.Action)
		}
	}
	if out := h.step(kSpeech); out.Action != Admitted && out.Action != Queued {
		t.Fatalf("after max closed: %s", out.Action)
	}
	if n := len(h.log.of(EventBarrierForcedOpen)); n != 1 {
		t.Fatalf("%d forced-open events", n)
	}
}

func TestMaxBarrierClosedConfig(t *testing.T) {
	up := &recUplink{}
	for _, c := range []Config{
		{MaxBarrierClosed: -time.Second},
		{MaxBarrierClosed: 100 * time.Millisecond}, // shorter than the tail hold
	} {
		if _, err := New(c, Deps{Uplink: up}); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("%v: %v", c.MaxBarrierClosed, err)
		}
	}
	g, err := New(Config{}, Deps{Uplink: up})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got := g.Config().MaxBarrierClosed; got != 30*time.Second {
		t.Fatalf("default %v", got)
	}
}
