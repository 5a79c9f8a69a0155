package realtimemodel

import (
	"context"
	"testing"
	"time"

	"github.com/inferflow/inferflow/gate"
)

// The gate's assistant barrier must follow what the simulator emits: closed
// from response.created, open once the tail hold after response.done (or
// output_audio_buffer.cleared) has passed.
func TestGateBarrierFollowsSimulatedEvents(t *testing.T) {
	tests := []struct {
		name   string
		cancel bool // barge in after a few deltas
		last   string
	}{
		{"completed response", false, TypeResponseDone},
		{"cancelled response", true, TypeOutputAudioBufferCleared},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := gate.NewManualClock(time.Unix(1_800_000_000, 0))
			g, err := gate.New(gate.Config{}, gate.Deps{
				Uplink: gate.UplinkFunc(func(context.Context, gate.Frame, gate.Lane) error { return nil }),
				Clock:  clock,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			tail := g.Config().AssistantTailHold
			closed := func() bool { return g.Snapshot().Barrier.Closed }

			s := newSim(t, SimConfig{Fast: true, EventBuffer: 4})
			feed := func(ev ServerEvent) {
				t.Helper()
				if err := g.HandleServerEventJSON(ev.Raw); err != nil {
					t.Fatalf("gate refused %s: %v", ev.Raw, err)
				}
			}
			for _, ev := range collectUntil(t, s, isType(TypeSessionUpdated)) {
				feed(ev)
			}
			if closed() {
				t.Fatal("barrier closed before any response")
			}
			sendTurn(t, s, 16000, 300)
			must(t, s.CommitTurn(ctx()))
			must(t, s.CreateResponse(ctx(), "h"))
			deltas := 0
			for {
				ev, ok := next(t, s)
				if !ok {
					t.Fatal("events closed")
				}
				feed(ev)
				clock.Advance(10 * time.Millisecond) // the stream takes time
				switch ev.Type {
				case TypeResponseCreated:
					b := g.Snapshot().Barrier
					if !b.Closed || b.ActiveResponseID != "resp_1" {
						t.Fatalf("after response.created: %+v", b)
					}
				case TypeResponseOutputAudioDelta:
					deltas++
					if !closed() {
						t.Fatal("barrier open during the reply")
					}
					if tc.cancel && deltas == 2 {
						must(t, s.CancelResponse(ctx()))
					}
				}
				if ev.Type == tc.last {
					break
				}
			}
			// Within the tail hold the barrier stays closed, after it opens.
			if !closed() {
				t.Fatal("barrier open within the tail hold")
			}
			clock.Advance(tail)
			if closed() {
				t.Fatalf("barrier still closed %v after the last event: %+v", tail+10*time.Millisecond, g.Snapshot().Barrier)
			}
		})
	}
}
