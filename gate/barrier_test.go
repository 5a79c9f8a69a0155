package gate

import (
	"testing"
	"time"
)

func TestBarrierEvents(t *testing.T) {
	tail := DefaultAssistantTailHold
	tests := []struct {
		name   string
		events []ServerEvent
		// closed at: right after the events, at +tail, at +tail+1ns, at +10s
		want [4]bool
	}{
		{"created keeps closed until done", []ServerEvent{{ServerResponseCreated, "r1"}}, [4]bool{true, true, true, true}},
		{"created without id: tail hold only (seed)", []ServerEvent{{ServerResponseCreated, ""}}, [4]bool{true, true, false, false}},
		{"audio delta", []ServerEvent{{ServerOutputAudioDelta, ""}}, [4]bool{true, true, false, false}},
		{"audio done", []ServerEvent{{ServerOutputAudioDone, ""}}, [4]bool{true, true, false, false}},
		{"transcript delta", []ServerEvent{{ServerOutputAudioTranscriptDel, ""}}, [4]bool{true, true, false, false}},
		{"text delta", []ServerEvent{{ServerOutputTextDelta, ""}}, [4]bool{true, true, false, false}},
		{"created then done", []ServerEvent{{ServerResponseCreated, "r1"}, {ServerResponseDone, "r1"}}, [4]bool{true, true, false, false}},
		{"done without id matches active", []ServerEvent{{ServerResponseCreated, "r1"}, {ServerResponseDone, ""}}, [4]bool{true, true, false, false}},
		{"done for another response ignored", []ServerEvent{{ServerResponseCreated, "r1"}, {ServerResponseDone, "r2"}}, [4]bool{true, true, true, true}},
		{"buffer cleared ends response", []ServerEvent{{ServerResponseCreated, "r1"}, {ServerOutputAudioBufferCleared, ""}}, [4]bool{true, true, false, false}},
		{"done with no active response", []ServerEvent{{ServerResponseDone, "r9"}}, [4]bool{true, true, false, false}},
		{"unknown type ignored", []ServerEvent{{"session.updated", ""}}, [4]bool{false, false, false, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{}, Deps{})
			for _, ev := range tc.events {
				h.g.HandleServerEvent(ev)
			}
			at := []time.Duration{0, tail, 1, 10 * time.Second}
			for i, d := range at {
				h.clk.Advance(d)
				if got := h.g.Snapshot().Barrier.Closed; got != tc.want[i] {
					t.Errorf("check %d: closed = %v, want %v", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestBarrierEventsJSON(t *testing.T) {
	h := newHarness(t, Config{}, Deps{})
	if err := h.g.HandleServerEventJSON([]byte(`{"type":"response.created","response":{"id":"resp_1"}}`)); err != nil {
		t.Fatal(err)
	}
	if id := h.g.Snapshot().Barrier.ActiveResponseID; id != "resp_1" {
		t.Fatalf("active response %q", id)
	}
	// response_id form; wrong id is ignored.
	_ = h.g.HandleServerEventJSON([]byte(`{"type":"response.done","response_id":"resp_2"}`))
	h.clk.Advance(time.Second)
	if !h.g.Snapshot().Barrier.Closed {
		t.Fatal("done for another response opened the barrier")
	}
	_ = h.g.HandleServerEventJSON([]byte(`{"type":"response.done","response_id":"resp_1"}`))
	h.clk.Advance(DefaultAssistantTailHold + 1)
	if h.g.Snapshot().Barrier.Closed {
		t.Fatal("barrier still closed after done and tail hold")
	}
	if err := h.g.HandleServerEventJSON([]byte(`[1,2]`)); err == nil {
		t.Fatal("non-object accepted")
	}
	if n := len(h.log.of(EventResponseCreated)); n != 1 {
		t.Fatalf("%d response_created events", n)
	}
	if n := len(h.log.of(EventResponseDone)); n != 1 {
		t.Fatalf("%d response_done events", n)
	}
}

// Held audio flushes by itself when the tail hold ends, with no further
// frame or event.
func TestTailHoldFlushesOnTimer(t *testing.T) {
	h := newHarness(t, Config{}, Deps{})
	h.event(ServerResponseCreated, "r1")
	for i := 0; i < 3; i++ {
		if out := h.step(kSpeech); out.Action != Held {
			t.Fatalf("frame %d: %s/%s, want held", i, out.Action, out.Reason)
		}
	}
	h.event(ServerResponseDone, "r1")
	h.clk.Advance(DefaultAssistantTailHold)
	h.drain()
	if n := len(h.up.delivered()); n != 0 {
		t.Fatalf("%d frames delivered inside the tail hold", n)
	}
	h.clk.Advance(1)
	h.drain()
	if got := h.up.delivered(); len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Fatalf("delivered %v, want [1 2 3]", got)
	}
	m := h.g.Metrics()
	if m.HeldFlushes != 1 || m.HeldFlushFrames != 3 || m.HeldFramesAccepted != 3 {
		t.Fatalf("metrics %+v", m)
	}
	if ev := h.log.of(EventHeldFlushComplete); len(ev) != 1 || ev[0].Generation != 1 || ev[0].Frames != 3 {
		t.Fatalf("flush events %+v", ev)
	}
}

func TestPlaybackProbe(t *testing.T) {
	var playing = true
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	probe := func() bool { <-mu; defer func() { mu <- struct{}{} }(); return playing }
	set := func(v bool) { <-mu; playing = v; mu <- struct{}{} }

	h := newHarness(t, Config{}, Deps{PlaybackActive: probe})
	if out := h.step(kSpeech); out.Action != Held {
		t.Fatalf("probe active: %s, want held", out.Action)
	}
	if !h.g.Snapshot().Barrier.PlaybackActive {
		t.Fatal("snapshot misses playback")
	}
	h.clk.Advance(time.Second) // the barrier timer polls; still playing
	if n := len(h.up.delivered()); n != 0 {
		t.Fatalf("delivered %d while playing", n)
	}
	set(false)
	h.clk.Advance(probePoll)
	h.drain()
	if n := len(h.up.delivered()); n != 1 {
		t.Fatalf("delivered %d after playback stopped, want 1", n)
	}
	if out := h.step(kSpeech); out.Action != Admitted {
		t.Fatalf("after playback: %s", out.Action)
	}
}

func TestPlaybackProbePanicIsNotFatal(t *testing.T) {
	h := newHarness(t, Config{}, Deps{PlaybackActive: func() bool { panic("probe") }})
	if out := h.step(kSpeech); out.Action != Admitted {
		t.Fatalf("%s, want admitted (panicking probe means not playing)", out.Action)
	}
	if h.g.Metrics().PlaybackProbeFailures == 0 {
		t.Fatal("probe panic not counted")
	}
}
