package gate

import (
	"slices"
	"testing"
	"time"
)

// TestTurnCountsOnce: one user turn counts one speech start and one speech
// end however the barrier interleaves with it, and the state machine does
// not flip between speaking and assistant_blocked frame by frame.
func TestTurnCountsOnce(t *testing.T) {
	const (
		S = kSpeech
		q = kSilence
	)
	// 12 silence frames = 240 ms: past the 220 ms hangover.
	pause := func() []int16 { return slices.Repeat([]int16{q}, 12) }
	tests := []struct {
		name string
		// created/done: server events before frame index i.
		created, done int
		frames        []int16
		wantTr        []string
		turnMs        []int64 // durations of ended turns
	}{
		{
			name:    "turn under the barrier",
			created: 0, done: -1,
			frames: slices.Concat([]int16{S, S, S, q, q, S, S, S}, pause()),
			wantTr: []string{
				"idle>assistant_blocked:assistant_playback_barrier",
				"assistant_blocked>idle:silence_after_hangover",
			},
			turnMs: []int64{160},
		},
		{
			name:    "turn starts open, barrier closes in the middle",
			created: 3, done: -1,
			frames: slices.Concat([]int16{S, S, S, S, q, S, S}, pause()),
			wantTr: []string{
				"idle>speaking:speech_detected",
				"speaking>assistant_blocked:assistant_playback_barrier",
				"assistant_blocked>idle:silence_after_hangover",
			},
			turnMs: []int64{140},
		},
		{
			name:    "turn starts under the barrier, goes on after it opens",
			created: 0, done: 3,
			// done before frame 3; the tail hold (180 ms) keeps the barrier
			// closed through frame 11.
			frames: slices.Concat([]int16{S, S, S, S, S, S, S, S, S, S, S, S, S, S, S}, pause()),
			wantTr: []string{
				"idle>assistant_blocked:assistant_playback_barrier",
				"assistant_blocked>speaking:speech_detected",
				"speaking>hangover:hangover_active",
				"hangover>idle:silence_after_hangover",
			},
			turnMs: []int64{300},
		},
		{
			name:    "open barrier, short pauses inside the hangover",
			created: -1, done: -1,
			frames: slices.Concat([]int16{S, S, q, q, S, q, S, S}, pause(), []int16{S}, pause()),
			wantTr: []string{
				"idle>speaking:speech_detected",
				"speaking>hangover:hangover_active",
				"hangover>speaking:speech_detected",
				"speaking>hangover:hangover_active",
				"hangover>speaking:speech_detected",
				"speaking>hangover:hangover_active",
				"hangover>idle:silence_after_hangover",
				"idle>speaking:speech_detected",
				"speaking>hangover:hangover_active",
				"hangover>idle:silence_after_hangover",
			},
			turnMs: []int64{160, 20},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{}, Deps{})
			for i, k := range tc.frames {
				if i == tc.created {
					h.event(ServerResponseCreated, "r1")
				}
				if i == tc.done {
					h.event(ServerResponseDone, "r1")
				}
				h.step(k)
			}
			var got []string
			for _, e := range h.log.of(EventStateTransition) {
				got = append(got, string(e.PreviousState)+">"+string(e.NextState)+":"+e.Reason)
			}
			if !slices.Equal(got, tc.wantTr) {
				t.Fatalf("transitions\n%q\nwant\n%q", got, tc.wantTr)
			}
			m := h.g.Metrics()
			n := uint64(len(tc.turnMs))
			if m.SpeechStartEvents != n || m.SpeechEndEvents != n {
				t.Fatalf("speech starts %d ends %d, want %d each", m.SpeechStartEvents, m.SpeechEndEvents, n)
			}
			var turns []int64
			for _, e := range h.log.of(EventTurnEnded) {
				turns = append(turns, e.Duration.Milliseconds())
			}
			if !slices.Equal(turns, tc.turnMs) {
				t.Fatalf("turn durations %v ms, want %v", turns, tc.turnMs)
			}
		})
	}
}

// TestCloseEndsTurn: a turn still open at Close is counted as ended.
func TestCloseEndsTurn(t *testing.T) {
	h := newHarness(t, Config{}, Deps{})
	h.step(kSpeech)
	h.step(kSpeech)
	h.g.Close()
	m := h.g.Metrics()
	if m.SpeechStartEvents != 1 || m.SpeechEndEvents != 1 {
		t.Fatalf("starts %d ends %d", m.SpeechStartEvents, m.SpeechEndEvents)
	}
	if evs := h.log.of(EventTurnEnded); len(evs) != 1 || evs[0].Duration != 40*time.Millisecond {
		t.Fatalf("turn events %+v", evs)
	}
}
