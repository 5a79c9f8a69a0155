package gate

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

// transition moves the turn state machine, counting speech starts and ends
// as the seed does, and records an event when someone listens. f may be nil.
func (g *Gate) transition(evs *eventBuf, next TurnState, reason string, f *Frame) {
	prev, changed, started, ended := g.turn.move(next)
	if !changed {
		return
	}
	if started {
		g.m.SpeechStartEvents++
	}
	if ended {
		g.m.SpeechEndEvents++
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
