package gate

import "time"

// barrier is the assistant playback barrier: closed while a response is
// active and not done, while the playback probe says audio is playing, and
// for the tail hold after the last assistant activity. Responses are matched
// by id (CONTRACT.md#playback-barrier): a response.done for another response is ignored.
//
// It is also bounded in time: once it has been closed for maxClosed on end
// (a response.done that never came, a playback probe stuck at true) it is
// forced open, and stays open whatever the tail or the probe say, until the
// next response.created.
type barrier struct {
	tailHold  time.Duration
	maxClosed time.Duration

	// closedSince is when the current closure began (hasClosedSince), as
	// seen by a closing server event or by the first check that found the
	// barrier closed.
	closedSince    time.Time
	hasClosedSince bool
	forcedOpen     bool

	activeID        string
	hasActive       bool // a response with an id is active
	doneSeen        bool
	createdAt       time.Time
	doneAt          time.Time
	lastActivity    time.Time
	hasLastActivity bool
}

// BarrierSnapshot describes the playback barrier.
type BarrierSnapshot struct {
	ActiveResponseID string
	ResponseCreated  time.Time
	ResponseDone     time.Time
	DoneSeen         bool
	LastActivity     time.Time
	PlaybackActive   bool
	Closed           bool
	// ClosedSince is when the current closure began (zero when open).
	ClosedSince time.Time
	// ForcedOpen: the barrier was opened by MaxBarrierClosed and stays open
	// until the next response.created.
	ForcedOpen bool
}

func (b *barrier) noteActivity(now time.Time) {
	b.lastActivity = now
	b.hasLastActivity = true
}

// barrierChange says what a server event did, for events.
type barrierChange int

const (
	barrierNone barrierChange = iota
	barrierCreated
	barrierDone
	barrierActivity
	barrierCleared
)

// apply feeds one server event; it returns what changed and the response id
// the change refers to.
func (b *barrier) apply(ev ServerEvent, now time.Time) (barrierChange, string) {
	switch ev.Type {
	case "response.created":
		b.forcedOpen = false
		b.closing(now)
		b.activeID, b.hasActive = ev.ResponseID, ev.ResponseID != ""
		b.createdAt = now
		b.doneAt = time.Time{}
		b.doneSeen = false
		b.noteActivity(now)
		return barrierCreated, b.activeID
	case "response.output_audio.delta",
		"response.output_audio.done",
		"response.output_audio_transcript.delta",
		"response.output_text.delta":
		b.closing(now)
		b.noteActivity(now)
		return barrierActivity, ""
	case "response.done":
		id := ev.ResponseID
		if id == "" {
			id = b.activeID
		}
		if b.hasActive && id != b.activeID {
			return barrierNone, ""
		}
		b.doneSeen = true
		b.doneAt = now
		b.noteActivity(now)
		return barrierDone, id
	case "output_audio_buffer.cleared":
		b.doneSeen = true
		b.doneAt = now
		b.noteActivity(now)
		return barrierCleared, b.activeID
	}
	return barrierNone, ""
}

func (b *barrier) withinTail(now time.Time) bool {
	return b.hasLastActivity && now.Sub(b.lastActivity) <= b.tailHold
}

// closing notes that a server event closes the barrier, or keeps it
// closed, at now: a closure that starts now is timed from now.
func (b *barrier) closing(now time.Time) {
	if !b.hasClosedSince || !((b.hasActive && !b.doneSeen) || b.withinTail(now)) {
		b.closedSince, b.hasClosedSince = now, true
	}
}

// causes reports whether anything keeps the barrier closed, the time bound
// aside.
func (b *barrier) causes(now time.Time, playbackActive bool) bool {
	return (b.hasActive && !b.doneSeen) || playbackActive || b.withinTail(now)
}

// expired reports whether the current closure has lasted maxClosed.
func (b *barrier) expired(now time.Time) bool {
	return b.hasClosedSince && now.Sub(b.closedSince) >= b.maxClosed
}

// closed reports whether the barrier is closed at now, without changing it.
func (b *barrier) closed(now time.Time, playbackActive bool) bool {
	return !b.forcedOpen && b.causes(now, playbackActive) && !b.expired(now)
}

// check is closed for the audio path: it times the closure and, once it
// has lasted maxClosed, forces the barrier open (expired is true that once).
func (b *barrier) check(now time.Time, playbackActive bool) (closed, expired bool) {
	if b.forcedOpen {
		return false, false
	}
	if !b.causes(now, playbackActive) {
		b.hasClosedSince = false
		return false, false
	}
	if !b.hasClosedSince {
		b.closedSince, b.hasClosedSince = now, true
	}
	if b.expired(now) {
		b.forcedOpen, b.hasClosedSince = true, false
		return false, true
	}
	return true, false
}

// expiresAt is when the current closure reaches maxClosed.
func (b *barrier) expiresAt() (time.Time, bool) {
	if b.forcedOpen || !b.hasClosedSince {
		return time.Time{}, false
	}
	return b.closedSince.Add(b.maxClosed), true
}

// tailEnd is the first instant at which the tail hold no longer keeps the
// barrier closed; ok is false when there was no assistant activity.
func (b *barrier) tailEnd() (time.Time, bool) {
	if !b.hasLastActivity {
		return time.Time{}, false
	}
	return b.lastActivity.Add(b.tailHold + 1), true
}

// clearIfOpen forgets a completed response once the barrier is open.
func (b *barrier) clearIfOpen(now time.Time, playbackActive bool) {
	if b.closed(now, playbackActive) {
		return
	}
	b.activeID, b.hasActive, b.doneSeen = "", false, false
	b.createdAt, b.doneAt = time.Time{}, time.Time{}
}

func (b *barrier) snapshot(now time.Time, playbackActive bool) BarrierSnapshot {
	closed := b.closed(now, playbackActive)
	var since time.Time
	if closed && b.hasClosedSince {
		since = b.closedSince
	}
	return BarrierSnapshot{
		ActiveResponseID: b.activeID,
		ResponseCreated:  b.createdAt,
		ResponseDone:     b.doneAt,
		DoneSeen:         b.doneSeen,
		LastActivity:     b.lastActivity,
		PlaybackActive:   playbackActive,
		Closed:           closed,
		ClosedSince:      since,
		ForcedOpen:       b.forcedOpen,
	}
}
