package gate

import "time"

// turn is the user's side of the conversation: the turn state machine, the
// user's turn itself (from its first speech frame until the hangover after
// its last one runs out), when the user last spoke and whether the user
// barged in during the current barrier closure. It does no I/O and knows
// nothing of events or counters: its methods report what changed and the
// gate records it.
type turn struct {
	state TurnState

	// on: a user turn is in progress; its speech start has been counted and
	// its end not yet.
	on         bool
	startAt    time.Duration // frame time of the turn's first speech frame
	lastSpeech time.Duration // frame time of the last user speech frame
	speechEnd  time.Duration // end of the last user speech frame
	hasSpeech  bool
	// interrupted: a barge-in was admitted during the current barrier
	// closure, so the rest of the user's turn is admitted too.
	interrupted bool
}

func newTurn() turn { return turn{state: StateIdle} }

// speech notes a user speech frame at frame time at lasting d; started is
// true when it begins a turn.
func (t *turn) speech(at, d time.Duration) (started bool) {
	started = !t.on
	if started {
		t.on, t.startAt = true, at
	}
	t.lastSpeech, t.speechEnd, t.hasSpeech = at, at+d, true
	return started
}

// end closes the turn in progress, if any, and returns its length from the
// start of its first speech frame to the end of its last.
func (t *turn) end() (length time.Duration, ended bool) {
	if !t.on {
		return 0, false
	}
	t.on = false
	return t.speechEnd - t.startAt, true
}

// inHangover reports whether at is within hangover of the last speech.
func (t *turn) inHangover(at, hangover time.Duration) bool {
	return t.hasSpeech && at-t.lastSpeech <= hangover
}

// move sets the state; changed is false when it already was next.
func (t *turn) move(next TurnState) (prev TurnState, changed bool) {
	prev = t.state
	t.state = next
	return prev, prev != next
}
