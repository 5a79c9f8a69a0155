package gate

import "time"

// TurnState is the gate's view of the conversation turn.
type TurnState string

const (
	StateIdle             TurnState = "idle"
	StateSpeaking         TurnState = "speaking"
	StateHangover         TurnState = "hangover"
	StateAssistantBlocked TurnState = "assistant_blocked"
)

// Transition reasons (Event.Reason of EventStateTransition).
const (
	ReasonSpeechDetected    = "speech_detected"
	ReasonSilenceAfterHang  = "silence_after_hangover"
	ReasonAssistantBarrier  = "assistant_playback_barrier"
	ReasonAssistantEcho     = "assistant_echo"
	ReasonHangoverActive    = "hangover_active"
	ReasonSpeechAdmitted    = "speech_admitted"
	ReasonBargeIn           = "barge_in"
	ReasonGateClosedTransit = "gate_closed"
)

// transition moves the turn state machine and records an event when
// someone listens. f may be nil. Speech starts and ends are counted per user
// turn (startTurnLocked, endTurnLocked), not per state change.
func (g *Gate) transition(evs *eventBuf, next TurnState, reason string, f *Frame) {
	prev, changed := g.turn.move(next)
	if !changed {
		return
	}
	if evs == nil || g.cfg.DisableStateTransitionEvents {
		return
	}
	e := Event{
		Type:          EventStateTransition,
		At:            g.clock.Now(),
		StreamLabel:   g.cfg.StreamLabel,
		PreviousState: prev,
		NextState:     next,
		Reason:        reason,
	}
	if f != nil {
		e.SessionID, e.StreamID, e.SpeakerID, e.Seq = f.SessionID, f.StreamID, f.SpeakerID, f.Seq
	}
	evs.add(e)
}

// startTurnLocked notes a user speech frame, counting a speech start when it
// begins a turn.
func (g *Gate) startTurnLocked(f *Frame, at time.Duration) {
	if g.turn.speech(at, f.Duration) {
		g.m.SpeechStartEvents++
	}
}

// endTurnLocked ends the user's turn, if one is in progress: its hangover
// ran out, or the gate is closing. f may be nil.
func (g *Gate) endTurnLocked(evs *eventBuf, f *Frame) {
	d, ok := g.turn.end()
	if !ok {
		return
	}
	g.m.SpeechEndEvents++
	if evs == nil {
		return
	}
	e := Event{Type: EventTurnEnded, At: g.clock.Now(), StreamLabel: g.cfg.StreamLabel, Duration: d}
	if f != nil {
		e.SessionID, e.StreamID, e.SpeakerID, e.Seq = f.SessionID, f.StreamID, f.SpeakerID, f.Seq
	}
	evs.add(e)
}
