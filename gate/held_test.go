package gate

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestHeldOverflow(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		frames    int
		wantHeld  int
		wantDrop  uint64
		lastOut   Action
		lastErr   error
		wantFirst uint64 // Seq of the oldest frame still held
	}{
		{"frames bound, drop_oldest", Config{MaxHeldFrames: 3, OverflowPolicy: DropOldest}, 5, 3, 2, Held, nil, 3},
		{"frames bound, drop_newest", Config{MaxHeldFrames: 3, OverflowPolicy: DropNewest}, 5, 3, 2, Dropped, nil, 1},
		{"frames bound, reject", Config{MaxHeldFrames: 3, OverflowPolicy: Reject}, 5, 3, 2, Rejected, ErrHeldFull, 1},
		{"duration bound, drop_oldest", Config{MaxHoldBuffer: 60 * time.Millisecond, OverflowPolicy: DropOldest}, 5, 3, 2, Held, nil, 3},
		{"duration bound, drop_newest", Config{MaxHoldBuffer: 60 * time.Millisecond, OverflowPolicy: DropNewest}, 5, 3, 2, Dropped, nil, 1},
		{"duration bound, reject", Config{MaxHoldBuffer: 50 * time.Millisecond, OverflowPolicy: Reject}, 5, 2, 3, Rejected, ErrHeldFull, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg, Deps{})
			h.event(ServerResponseCreated, "r1")
			var out Outcome
			var err error
			for i := 0; i < tc.frames; i++ {
				h.clk.Advance(20 * time.Millisecond)
				out, err = h.g.ProcessFrame(mkFrame(kSpeech))
			}
			if out.Action != tc.lastOut || !errors.Is(err, tc.lastErr) || (tc.lastErr == nil && err != nil) {
				t.Fatalf("last frame: %s/%s err %v, want %s err %v", out.Action, out.Reason, err, tc.lastOut, tc.lastErr)
			}
			if out.Action != Held && out.Reason != ReasonHeldOverflow {
				t.Fatalf("reason %s", out.Reason)
			}
			s := h.g.Snapshot()
			if s.Held.Frames != tc.wantHeld || s.Metrics.HeldFramesDropped != tc.wantDrop {
				t.Fatalf("held %d dropped %d, want %d/%d", s.Held.Frames, s.Metrics.HeldFramesDropped, tc.wantHeld, tc.wantDrop)
			}
			if s.Held.Duration != time.Duration(tc.wantHeld)*20*time.Millisecond {
				t.Fatalf("held duration %v", s.Held.Duration)
			}
			h.event(ServerResponseDone, "r1")
			h.clk.Advance(time.Second)
			h.flush()
			got := h.up.delivered()
			if len(got) != tc.wantHeld || got[0] != tc.wantFirst {
				t.Fatalf("flushed %v, want %d frames from seq %d", got, tc.wantHeld, tc.wantFirst)
			}
			if tc.cfg.OverflowPolicy == DropOldest && len(h.log.of(EventFrameDropped)) != int(tc.wantDrop) {
				t.Fatalf("%d frame_dropped events", len(h.log.of(EventFrameDropped)))
			}
		})
	}
}

func TestDropDuringAssistantPlayback(t *testing.T) {
	h := newHarness(t, Config{DropDuringAssistantPlayback: true}, Deps{})
	h.event(ServerResponseCreated, "r1")
	out := h.step(kSpeech)
	if out.Action != Dropped || out.Reason != ReasonBarrier || out.State != StateAssistantBlocked {
		t.Fatalf("%+v", out)
	}
	if m := h.g.Metrics(); m.FramesDroppedBarrier != 1 || m.BarrierBlockedFrames != 1 || m.HeldFramesAccepted != 0 {
		t.Fatalf("metrics %+v", m)
	}
}

// Concurrent Flush calls, server events and frames never replay a batch:
// every held frame reaches the uplink exactly once and generations are
// unique and increasing.
func TestFlushGenerationsNoDoubleReplay(t *testing.T) {
	for _, batched := range []bool{false, true} {
		name := "per-frame"
		if batched {
			name = "batch-uplink"
		}
		t.Run(name, func(t *testing.T) {
			up := &recUplink{}
			var uplink Uplink = up
			if batched {
				uplink = batchUplink{up}
			}
			h := newHarness(t, Config{}, Deps{Uplink: uplink})
			for round := 0; round < 5; round++ {
				h.event(ServerResponseCreated, "r")
				for i := 0; i < 4; i++ {
					h.step(kSpeech)
				}
				h.event(ServerResponseDone, "r")
				h.clk.Advance(DefaultAssistantTailHold) // not yet open
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := 0; i < 8; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						defer cancel()
						if i%2 == 0 {
							h.g.HandleServerEvent(ServerEvent{Type: ServerOutputAudioDone})
						}
						_ = h.g.Flush(ctx)
					}()
				}
				h.clk.Advance(time.Second) // open
				close(start)
				wg.Wait()
				h.flush()
				// Drain the stray audio-done activity before the next round.
				h.clk.Advance(time.Second)
			}
			got := up.delivered()
			seen := map[uint64]int{}
			for _, s := range got {
				seen[s]++
			}
			if len(got) != 20 || len(seen) != 20 {
				t.Fatalf("delivered %d frames, %d distinct; want 20/20", len(got), len(seen))
			}
			if batched {
				bs := up.batchList()
				for i := 1; i < len(bs); i++ {
					if bs[i].gen <= bs[i-1].gen {
						t.Fatalf("generations not increasing: %+v", bs)
					}
				}
			}
			if m := h.g.Metrics(); m.HeldFlushFrames != 20 || m.StaleFlushes != 0 || m.HeldFlushes != 5 {
				t.Fatalf("metrics %+v", m)
			}
		})
	}
}

// The generation guard skips a batch whose generation was already started.
func TestStaleGenerationSkipped(t *testing.T) {
	h := newHarness(t, Config{}, Deps{})
	h.g.mu.Lock()
	h.g.held.highestStarted = 100
	h.g.mu.Unlock()
	h.event(ServerResponseCreated, "r")
	h.step(kSpeech)
	h.event(ServerResponseDone, "r")
	h.clk.Advance(time.Second)
	h.flush()
	if m := h.g.Metrics(); m.StaleFlushes != 1 || len(h.up.delivered()) != 0 {
		t.Fatalf("stale batch delivered: %+v", m)
	}
}
