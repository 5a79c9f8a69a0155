//go:build !race

package gate

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestProcessFrameAllocs: ProcessFrame allocates nothing on any path a live
// call takes every frame: admission, queueing and drop_oldest eviction,
// holding and held eviction, turn ends, with a listener.
func TestProcessFrameAllocs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		barrier bool
	}{{"open barrier", false}, {"closed barrier", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var events atomic.Int64
			g, err := newGate(Config{MaxHeldFrames: 8}, Deps{
				Clock:   NewManualClock(t0),
				Uplink:  UplinkFunc(func(context.Context, Frame, Lane) error { return nil }),
				OnEvent: func(Event) { events.Add(1) },
			}, scriptFactory)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if tc.barrier {
				g.HandleServerEvent(ServerEvent{Type: ServerResponseCreated, ResponseID: "r"})
			}
			speech, silence := mkFrame(kSpeech), mkFrame(kSilence)
			var ts time.Duration
			step := func(f Frame, n int) {
				for i := 0; i < n; i++ {
					ts += 20 * time.Millisecond
					f.Timestamp = ts
					if _, err := g.ProcessFrame(f); err != nil {
						t.Fatal(err)
					}
				}
			}
			step(speech, 40) // warm up slots and buffers
			allocs := testing.AllocsPerRun(50, func() {
				step(speech, 12)
				step(silence, 14) // hangover, then the turn ends
			})
			if allocs != 0 {
				t.Fatalf("%v allocs per run", allocs)
			}
			if m := g.Metrics(); events.Load() == 0 || m.SpeechEndEvents < 50 || (tc.barrier && m.HeldFramesDropped == 0) {
				t.Fatalf("paths not taken: %+v", m)
			}
		})
	}
}
