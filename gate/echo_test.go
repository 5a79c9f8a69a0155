package gate

import (
	"slices"
	"testing"
	"time"
)

// Without a far-end reference the detector's echo flag is ignored and the
// gate behaves as the seed: speech under the barrier is held and flushed.
func TestEchoWithoutFarEndBehavesAsSeed(t *testing.T) {
	h := newHarness(t, Config{}, Deps{})
	h.event(ServerResponseCreated, "r")
	for i := 0; i < 3; i++ {
		out := h.step(kEcho)
		if out.Action != Held || out.Echo || !out.UserSpeech() {
			t.Fatalf("%+v", out)
		}
	}
	h.event(ServerResponseDone, "r")
	h.clk.Advance(time.Second)
	h.flush()
	if got := h.up.delivered(); len(got) != 3 {
		t.Fatalf("delivered %v", got)
	}
}

func TestFarEndEchoNeverReachesUplink(t *testing.T) {
	h := newHarness(t, Config{}, Deps{})
	h.farEnd()
	// Echo while the assistant talks: not held.
	h.event(ServerResponseCreated, "r")
	for i := 0; i < 5; i++ {
		out := h.step(kEcho)
		if out.Action != Dropped || out.Reason != ReasonEchoPreRoll || !out.Echo || out.State != StateAssistantBlocked {
			t.Fatalf("frame %d: %+v", i, out)
		}
	}
	if s := h.g.Snapshot(); s.Held.Frames != 0 || !s.FarEndSeen {
		t.Fatalf("snapshot %+v", s)
	}
	h.event(ServerResponseDone, "r")
	// Echo tail after the barrier opened: still dropped.
	h.clk.Advance(time.Second)
	if out := h.step(kEcho); out.Action != Dropped || out.Reason != ReasonEcho {
		t.Fatalf("%+v", out)
	}
	h.flush()
	if got := h.up.delivered(); len(got) != 0 {
		t.Fatalf("echo delivered: %v", got)
	}
	m := h.g.Metrics()
	if m.FramesEcho != 6 || m.FramesSpeechDetected != 0 || m.HeldFramesAccepted != 0 || m.FarEndFrames != 1 || m.HeldFlushes != 0 {
		t.Fatalf("metrics %+v", m)
	}
	// User speech after the echo is admitted.
	if out := h.step(kSpeech); out.Action != Admitted {
		t.Fatalf("%+v", out)
	}
}

// Echo inside the hangover of real user speech stays part of the user's
// turn (a pause between syllables where the echo is as loud as the user);
// once the hangover has run out, echo is dropped again.
func TestEchoInHangoverStaysInTurn(t *testing.T) {
	h := newHarness(t, Config{}, Deps{})
	h.farEnd()
	h.step(kSpeech)
	h.event(ServerResponseCreated, "r")
	if out := h.step(kEcho); out.Action != Held || !out.Echo || out.UserSpeech() {
		t.Fatalf("echo in hangover: %+v", out)
	}
	if out := h.step(kSilence); out.Action != Held || out.Reason != ReasonBarrier {
		t.Fatalf("silence in hangover: %+v", out)
	}
	h.clk.Advance(300 * time.Millisecond)
	if out := h.step(kEcho); out.Action != Dropped || out.Reason != ReasonEchoPreRoll {
		t.Fatalf("echo after the hangover: %+v", out)
	}
	if m := h.g.Metrics(); m.FramesSpeechDetected != 1 {
		t.Fatalf("echo counted as user speech: %+v", m)
	}
}

func TestBargeIn(t *testing.T) {
	tests := []struct {
		name       string
		policy     BargeInPolicy
		farEnd     bool
		wantInterr int
		// Frames: 1 speech (admitted, barrier open), then response.created,
		// 2 silence (hangover: held), a pause past the hangover, 3 echo
		// (dropped, kept as pre-roll), 4 user speech (barge-in: the pre-roll
		// goes ahead of it), 5 echo inside the user's hangover (part of the
		// turn), 6 silence (hangover), 7 user speech.
		want      []Action
		delivered []uint64 // before the barrier opens
		final     []uint64 // after it opens and Flush
	}{
		{"hold (default)", BargeInHold, true, 0,
			[]Action{Admitted, Held, Dropped, Held, Held, Held, Held},
			[]uint64{1}, []uint64{1, 2, 3, 4, 5, 6, 7}},
		{"admit", BargeInAdmit, true, 1,
			[]Action{Admitted, Held, Dropped, Admitted, Admitted, Admitted, Admitted},
			[]uint64{1, 2, 3, 4, 5, 6, 7}, []uint64{1, 2, 3, 4, 5, 6, 7}},
		{"admit without far end behaves as seed", BargeInAdmit, false, 0,
			[]Action{Admitted, Held, Held, Held, Held, Held, Held},
			[]uint64{1}, []uint64{1, 2, 3, 4, 5, 6, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{BargeIn: tc.policy}, Deps{})
			if tc.farEnd {
				h.farEnd()
			}
			kinds := []int16{kSpeech, kSilence, kEcho, kSpeech, kEcho, kSilence, kSpeech}
			var interr []uint64
			for i, k := range kinds {
				if i == 1 {
					h.event(ServerResponseCreated, "resp_9")
				}
				if i == 2 {
					h.clk.Advance(300 * time.Millisecond)
				}
				out := h.step(k)
				if out.Action == Queued {
					out.Action = Admitted // timing of the worker, not policy
				}
				if out.Action != tc.want[i] {
					t.Fatalf("frame %d: %s/%s, want %s", i+1, out.Action, out.Reason, tc.want[i])
				}
				if out.Interruption {
					interr = append(interr, out.Seq)
				}
				h.drain()
			}
			if len(interr) != tc.wantInterr {
				t.Fatalf("interruptions on %v", interr)
			}
			if got := h.up.delivered(); !slices.Equal(got, tc.delivered) {
				t.Fatalf("delivered %v, want %v", got, tc.delivered)
			}
			if tc.wantInterr > 0 {
				ev := h.log.of(EventInterruption)
				if len(ev) != 1 || ev[0].ResponseID != "resp_9" || ev[0].Seq != 4 {
					t.Fatalf("interruption events %+v", ev)
				}
				if m := h.g.Metrics(); m.Interruptions != 1 || m.BargeInFramesAdmitted != 4 {
					t.Fatalf("metrics %+v", m)
				}
				found := false
				for _, e := range h.log.of(EventStateTransition) {
					found = found || (e.Reason == ReasonBargeIn && e.NextState == StateSpeaking && e.Seq == 4)
				}
				if !found {
					t.Fatal("no barge_in transition into speaking")
				}
			}
			h.event(ServerResponseDone, "resp_9")
			h.clk.Advance(time.Second)
			h.flush()
			if got := h.up.delivered(); !slices.Equal(got, tc.final) {
				t.Fatalf("final %v, want %v", got, tc.final)
			}
		})
	}
}

// A new response can be interrupted again.
func TestBargeInPerResponse(t *testing.T) {
	h := newHarness(t, Config{BargeIn: BargeInAdmit}, Deps{})
	h.farEnd()
	for round := 0; round < 3; round++ {
		h.event(ServerResponseCreated, "r")
		if out := h.step(kSpeech); !out.Interruption {
			t.Fatalf("round %d: %+v", round, out)
		}
		if out := h.step(kSpeech); out.Interruption {
			t.Fatalf("round %d: second interruption", round)
		}
		h.event(ServerOutputAudioBufferCleared, "")
		h.clk.Advance(time.Second)
		h.step(kSilence)
	}
	if n := h.g.Metrics().Interruptions; n != 3 {
		t.Fatalf("%d interruptions", n)
	}
}

// The last BargeInPreRoll of echo-flagged audio of a closed barrier goes ahead of
// a barge-in; without a barge-in, or beyond the pre-roll, echo is dropped.
func TestBargeInPreRoll(t *testing.T) {
	tests := []struct {
		name    string
		preRoll time.Duration
		kinds   []int16
		open    bool // the barrier opens before the last frame
		want    []uint64
	}{
		{"the last 100 ms of echo precede the barge-in", 0, []int16{kEcho, kEcho, kEcho, kEcho, kEcho, kEcho, kEcho, kSpeech}, false, []uint64{3, 4, 5, 6, 7, 8}},
		{"pre-roll of 40 ms", 40 * time.Millisecond, []int16{kEcho, kEcho, kEcho, kSpeech}, false, []uint64{2, 3, 4}},
		{"off", -1, []int16{kEcho, kEcho, kSpeech}, false, []uint64{3}},
		{"silence in between forgets the pre-roll", 0, []int16{kEcho, kEcho, kSilence, kSpeech}, false, []uint64{4}},
		{"no barge-in: echo is dropped", 0, []int16{kEcho, kEcho, kEcho}, false, nil},
		{"the barrier opening forgets the pre-roll", 0, []int16{kEcho, kEcho, kSpeech}, true, []uint64{3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{BargeInPreRoll: tc.preRoll}, Deps{})
			h.farEnd()
			h.event(ServerResponseCreated, "r")
			for i, k := range tc.kinds {
				if tc.open && i == len(tc.kinds)-1 {
					h.event(ServerResponseDone, "r")
					h.clk.Advance(time.Second)
				}
				h.step(k)
				h.drain()
			}
			h.event(ServerResponseDone, "r")
			h.clk.Advance(time.Second)
			h.flush()
			if got := h.up.delivered(); !slices.Equal(got, tc.want) {
				t.Fatalf("delivered %v, want %v", got, tc.want)
			}
		})
	}
}
