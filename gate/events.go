package gate

import "time"

// EventType names an observability event (CONTRACT.md#gate-events).
type EventType string

const (
	// EventStateTransition: turn state changed (PreviousState, NextState,
	// Reason, ids of the frame that caused it).
	EventStateTransition EventType = "speech_gate.state_transition"
	// EventResponseCreated: response.created closed the barrier (ResponseID).
	EventResponseCreated EventType = "speech_gate.barrier_response_created"
	// EventResponseDone: response.done for the active response (ResponseID).
	EventResponseDone EventType = "speech_gate.barrier_response_done"
	// EventBarrierForcedOpen: the barrier had been closed for
	// MaxBarrierClosed (a lost response.done, a stuck playback probe) and
	// opened by itself (Reason max_closed_time, ResponseID of the response
	// it gave up on); it stays open until the next response.created.
	EventBarrierForcedOpen EventType = "speech_gate.barrier_forced_open"
	// EventHeldFlushComplete: a held batch reached the uplink (Generation,
	// Frames, Lane, Latency).
	EventHeldFlushComplete EventType = "speech_gate.held_flush_complete"
	// EventError: something failed without stopping the audio path (Code,
	// Err, and where known Seq, Lane, Latency).
	EventError EventType = "speech_gate.error"
	// EventInterruption: the user barged in over the assistant and, under
	// BargeInAdmit, the gate admitted the speech; cancel the response
	// (ResponseID, ids, Seq).
	EventInterruption EventType = "speech_gate.interruption"
	// EventUplinkResult: one uplink call for a single frame finished (Seq,
	// Lane, Latency, Err).
	EventUplinkResult EventType = "speech_gate.uplink_result"
	// EventFrameDropped: a frame accepted earlier will not reach the uplink
	// (Seq, Reason): a Queued frame evicted by drop_oldest (Reason
	// queue_backpressure), a Held frame evicted by drop_oldest (Reason
	// held_buffer_overflow), both reported before the ProcessFrame call that
	// evicted it returns, or an Admitted, Queued or Held frame discarded by
	// Close (Reason gate_closed).
	EventFrameDropped EventType = "speech_gate.frame_dropped"
	// EventTurnEnded: a user turn ended, i.e. the hangover after its last
	// speech frame ran out, or the gate closed (Duration: from the start of
	// its first speech frame to the end of its last; ids of the frame that
	// ended it). One per counted SpeechEndEvents.
	EventTurnEnded EventType = "speech_gate.turn_ended"
)

// ReasonMaxClosedTime is the Reason of EventBarrierForcedOpen.
const ReasonMaxClosedTime = "max_closed_time"

// Event is what the listener (Deps.OnEvent) receives. Fields that do not
// apply to a type are zero. Events are built only when a listener is set.
type Event struct {
	Type        EventType
	At          time.Time
	StreamLabel string

	SessionID string
	StreamID  string
	SpeakerID string
	Seq       uint64

	PreviousState TurnState
	NextState     TurnState
	Reason        string

	ResponseID string
	Code       Code
	Err        error
	Lane       Lane
	Generation uint64
	Frames     int
	Latency    time.Duration
	// Duration is the length of the turn (EventTurnEnded).
	Duration time.Duration
}

// eventBuf collects events under the gate's lock so they can be delivered
// after it is released: a listener may then call back into the gate. It
// lives on the caller's stack; a nil *eventBuf means "no listener".
type eventBuf struct {
	n    int
	lost int
	ev   [8]Event
}

func (b *eventBuf) add(e Event) {
	if b.n == len(b.ev) {
		b.lost++
		return
	}
	b.ev[b.n] = e
	b.n++
}

// emitAll delivers events collected outside an eventBuf (Close).
func (g *Gate) emitAll(evs []Event) {
	panics := 0
	for i := range evs {
		if !g.callListener(&evs[i]) {
			panics++
		}
	}
	if panics > 0 {
		g.mu.Lock()
		g.m.ObserverPanics += uint64(panics)
		g.mu.Unlock()
	}
}

// emit delivers collected events; a panicking listener is counted and
// otherwise ignored, so observability never breaks the audio path.
func (g *Gate) emit(b *eventBuf) {
	if b == nil || (b.n == 0 && b.lost == 0) {
		return
	}
	panics := 0
	for i := 0; i < b.n; i++ {
		if !g.callListener(&b.ev[i]) {
			panics++
		}
		b.ev[i] = Event{}
	}
	if panics > 0 || b.lost > 0 {
		g.mu.Lock()
		g.m.ObserverPanics += uint64(panics)
		g.m.EventsLost += uint64(b.lost)
		g.mu.Unlock()
	}
	b.n, b.lost = 0, 0
}

func (g *Gate) callListener(e *Event) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	g.onEvent(*e)
	return true
}
