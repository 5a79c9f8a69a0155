package gate

import (
	"slices"
	"testing"
	"time"
)

func TestTurnStateMachine(t *testing.T) {
	h := newHarness(t, Config{}, Deps{})
	type want struct {
		kind   int16
		action Action
		reason Reason
		state  TurnState
	}
	seq := []want{
		{kSilence, Dropped, ReasonSilence, StateIdle},
		{kSpeech, Admitted, ReasonSpeech, StateSpeaking},
		{kSilence, Admitted, ReasonHangover, StateHangover}, // +20ms
		{kSilence, Admitted, ReasonHangover, StateHangover}, // ... up to +220ms
		{kSilence, Admitted, ReasonHangover, StateHangover},
		{kSilence, Admitted, ReasonHangover, StateHangover},
		{kSilence, Admitted, ReasonHangover, StateHangover},
		{kSilence, Admitted, ReasonHangover, StateHangover},
		{kSilence, Admitted, ReasonHangover, StateHangover},
		{kSilence, Admitted, ReasonHangover, StateHangover},
		{kSilence, Admitted, ReasonHangover, StateHangover},
		{kSilence, Admitted, ReasonHangover, StateHangover}, // +200ms
		{kSilence, Admitted, ReasonHangover, StateHangover}, // +220ms: still inside (<=)
		{kSilence, Dropped, ReasonSilence, StateIdle},       // +240ms
		{kSpeech, Admitted, ReasonSpeech, StateSpeaking},
	}
	for i, w := range seq {
		out := h.step(w.kind)
		if out.Action == Queued {
			out.Action = Admitted
		}
		if out.Action != w.action || out.Reason != w.reason || out.State != w.state {
			t.Fatalf("frame %d: %s/%s/%s, want %s/%s/%s", i+1, out.Action, out.Reason, out.State, w.action, w.reason, w.state)
		}
		h.drain()
	}
	h.event(ServerResponseCreated, "r")
	if out := h.step(kSpeech); out.State != StateAssistantBlocked || out.Action != Held {
		t.Fatalf("%+v", out)
	}
	var got []string
	for _, e := range h.log.of(EventStateTransition) {
		got = append(got, string(e.PreviousState)+">"+string(e.NextState)+":"+e.Reason)
		if e.SessionID != "sess" || e.StreamID != "mic" || e.SpeakerID != "user" || e.StreamLabel != "default" {
			t.Fatalf("ids missing: %+v", e)
		}
	}
	wantTr := []string{
		"idle>speaking:speech_detected",
		"speaking>hangover:hangover_active",
		"hangover>idle:silence_after_hangover",
		"idle>speaking:speech_detected",
		"speaking>assistant_blocked:assistant_playback_barrier",
	}
	if !slices.Equal(got, wantTr) {
		t.Fatalf("transitions\n%v\nwant\n%v", got, wantTr)
	}
	// Two turns started; the first ended when its hangover ran out, the
	// second goes on under the barrier.
	m := h.g.Metrics()
	if m.SpeechStartEvents != 2 || m.SpeechEndEvents != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestFrameTimestampsDriveHangover(t *testing.T) {
	h := newHarness(t, Config{}, Deps{})
	f := mkFrame(kSpeech)
	f.Timestamp = time.Second
	h.g.ProcessFrame(f)
	f = mkFrame(kSilence)
	f.Timestamp = time.Second + 220*time.Millisecond
	if out, _ := h.g.ProcessFrame(f); out.Reason != ReasonHangover {
		t.Fatalf("%+v", out)
	}
	f.Timestamp = time.Second + 221*time.Millisecond
	if out, _ := h.g.ProcessFrame(f); out.Reason != ReasonSilence {
		t.Fatalf("%+v", out)
	}
}

func TestDisableStateTransitionEvents(t *testing.T) {
	h := newHarness(t, Config{DisableStateTransitionEvents: true}, Deps{})
	h.step(kSpeech)
	if n := len(h.log.of(EventStateTransition)); n != 0 {
		t.Fatalf("%d transition events", n)
	}
	if h.g.Metrics().SpeechStartEvents != 1 {
		t.Fatal("counters must still move")
	}
}

func TestMetricsSnapshotAndReset(t *testing.T) {
	h := newHarness(t, Config{StreamLabel: "room-1"}, Deps{})
	h.step(kSpeech)
	h.step(kSilence)
	h.clk.Advance(time.Second)
	h.step(kSilence)
	h.g.ProcessFrame(Frame{})
	h.drain()
	s := h.g.Snapshot()
	m := s.Metrics
	if m.FramesTotal != 4 || m.FramesSpeechDetected != 1 || m.FramesSilenceDetected != 2 ||
		m.FramesDroppedSilence != 1 || m.FramesDroppedInvalid != 1 || m.UplinksSucceeded != 2 ||
		m.FramesAdmittedImmediate+m.FramesQueued != 2 {
		t.Fatalf("metrics %+v", m)
	}
	if s.Config.StreamLabel != "room-1" || s.TurnState != StateIdle || s.Closed {
		t.Fatalf("snapshot %+v", s)
	}
	h.g.ResetMetrics()
	if m := h.g.Metrics(); m != (Metrics{}) {
		t.Fatalf("after reset %+v", m)
	}
	if s := h.g.Snapshot(); s.TurnState != StateIdle || s.Streams != 1 {
		t.Fatal("reset touched state")
	}
}
