package gate

import "github.com/inferflow/inferflow/gate/vad"

// Action is what the gate did with a microphone frame.
type Action string

const (
	// Admitted: given a free uplink slot at once. The frame counts as in
	// flight from then on, is never evicted, and reaches Uplink.SendFrame
	// unless the gate is closed first (then EventFrameDropped, Reason
	// gate_closed).
	Admitted Action = "admitted"
	// Queued: waiting in the bounded uplink queue for a slot. Under
	// drop_oldest a later frame may evict it; EventFrameDropped (Reason
	// queue_backpressure) reports that before the evicting ProcessFrame
	// call returns.
	Queued Action = "queued"
	// Held: kept in the held buffer until the playback barrier opens.
	Held Action = "held"
	// Dropped: discarded (Reason says why).
	Dropped Action = "dropped"
	// Rejected: refused; ProcessFrame also returns an error.
	Rejected Action = "rejected"
)

// Reason explains an Action.
type Reason string

const (
	ReasonSpeech            Reason = "speech"
	ReasonHangover          Reason = "hangover"
	ReasonSilence           Reason = "silence"
	ReasonEcho              Reason = "echo"
	ReasonEchoPreRoll       Reason = "echo_preroll" // dropped unless a barge-in follows
	ReasonBarrier           Reason = "assistant_playback_barrier"
	ReasonBargeInAdmitted   Reason = "barge_in"
	ReasonHeldOverflow      Reason = "held_buffer_overflow"
	ReasonQueueBackpressure Reason = "queue_backpressure"
	ReasonInvalidFrame      Reason = "invalid_frame"
	ReasonGateClosed        Reason = "gate_closed"
	ReasonLaneFailed        Reason = "lane_resolution_failed"
	ReasonEvicted           Reason = "evicted_drop_oldest"
)

// Outcome reports what happened to one microphone frame. An Admitted frame
// reaches the uplink (unless the gate closes first); a Queued or Held frame
// may still be evicted by drop_oldest. Every later loss is reported by Seq:
// EventFrameDropped for evictions and Close, EventUplinkResult (Err) or
// EventError for a failed uplink call.
type Outcome struct {
	// Seq numbers the gate's frames from 1.
	Seq uint64
	// Decision is the detector's verdict (zero for rejected frames).
	Decision vad.Decision
	// Echo is Decision.Echo once a far-end reference has been seen for the
	// stream; without one the gate ignores the detector's echo flag.
	Echo   bool
	Action Action
	Reason Reason
	Lane   Lane
	// State is the turn state after the frame.
	State TurnState
	// Interruption is true on the frame that declared a barge-in
	// (BargeInAdmit).
	Interruption bool
	QueueDepth   int
	Inflight     int
	HeldFrames   int
}

// UserSpeech reports whether the frame held user speech (not echo).
func (o Outcome) UserSpeech() bool { return o.Decision.Speech && !o.Echo }

// Delivered reports whether the frame is on its way to the uplink (now,
// queued or held for a later flush).
func (o Outcome) Delivered() bool {
	return o.Action == Admitted || o.Action == Queued || o.Action == Held
}
