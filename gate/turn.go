package gate

import "time"

// turn is the user's side of the conversation: the turn state machine, when
// the user last spoke (for the hangover) and whether the user barged in
// during the current barrier closure. It does no I/O and knows nothing of
// events or counters: move reports what changed and the gate records it.
type turn struct {
	state      TurnState
	lastSpeech time.Duration // frame time of the last user speech frame
	hasSpeech  bool
	// interrupted: a barge-in was admitted during the current barrier
	// closure, so the rest of the user's turn is admitted too.
	interrupted bool
}

func newTurn() turn { return turn{state: StateIdle} }

// speech notes a user speech frame at frame time at.
func (t *turn) speech(at time.Duration) {
	t.lastSpeech, t.hasSpeech = at, true
}

// inHangover reports whether at is within hangover of the last speech.
func (t *turn) inHangover(at, hangover time.Duration) bool {
	return t.hasSpeech && at-t.lastSpeech <= hangover
}

// move sets the state. changed is false when it already was next; started
// and ended say whether a speech start or end is to be counted.
func (t *turn) move(next TurnState) (prev TurnState, changed, started, ended bool) {
	prev = t.state
	if prev == next {
		return prev, false, false, false
	}
	t.state = next
	return prev, true, next == StateSpeaking, prev == StateSpeaking
}
