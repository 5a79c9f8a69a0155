package gate

import "time"

// barrier is the assistant playback barrier: closed while a response is
// active and not done, while the playback probe says audio is playing, and
// for the tail hold after the last assistant activity. Responses are matched
// by id as in the seed: a response.done for another response is ignored.
type barrier struct {
	tailHold time.Duration

	activeID        string
	hasActive       bool // the seed's activeResponseId !== null
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

func (b *barrier) closed(now time.Time, playbackActive bool) bool {
	return (b.hasActive && !b.doneSeen) || playbackActive || b.withinTail(now)
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
	return BarrierSnapshot{
		ActiveResponseID: b.activeID,
		ResponseCreated:  b.createdAt,
		ResponseDone:     b.doneAt,
		DoneSeen:         b.doneSeen,
		LastActivity:     b.lastActivity,
		PlaybackActive:   playbackActive,
		Closed:           b.closed(now, playbackActive),
	}
}
