package voice

import (
	"context"
	"errors"
	"time"
)

// The session's view of the world around it. Each is satisfied by a thin
// adapter over the real part (media.go, model.go, recorder.go), and by
// fakes in tests.

// MicFrame is 20 ms of the caller's microphone audio at MicRate.
type MicFrame struct {
	PCM []int16
	// Timestamp is the frame's place on the caller's media timeline (from
	// RTP timestamps), so network jitter does not stretch the hangover.
	Timestamp time.Duration
	// Concealed marks a frame made up for a lost packet.
	Concealed bool
	// Arrival is when the packet that completed the frame arrived (zero if
	// unknown); the session measures arrival-to-decision time from it.
	Arrival time.Time
}

// FrameSource yields the caller's microphone frames. NextFrame blocks until
// a frame is ready; the PCM is valid until the next call. It returns an
// error when the caller's media ends.
type FrameSource interface {
	NextFrame(ctx context.Context) (MicFrame, error)
}

// AudioSink plays 20 ms frames of assistant audio at PlayoutRate to the
// caller. It must not block for long (it encodes and writes one packet).
type AudioSink interface {
	WriteFrame(pcm []int16) error
}

// EventSink carries JSON messages to the caller. SendEvent must never
// block; it reports false when the message was dropped (the sink counts).
type EventSink interface {
	SendEvent(msg []byte) bool
}

// Usage is a response's token usage as the model reports it.
type Usage struct {
	InputTokens  int `json:"inputTokens"`
	OutputTokens int `json:"outputTokens"`
	TotalTokens  int `json:"totalTokens"`
}

// Recorder tells the session's durable workflow what happened (one record
// per turn, response and interruption, never per frame) and places billing
// holds.
type Recorder interface {
	// Record queues a record for delivery. It never blocks.
	Record(r Record)
	// ReserveResponse places the hold for response seq before it is
	// created. A business refusal (no credits) is a Hold with OK false; an
	// error means billing could not be reached (ErrBillingUnavailable).
	ReserveResponse(ctx context.Context, seq int) (Hold, error)
}

// BillingReporter is a Recorder that can also say what a response was
// charged once the workflow has captured it, and the balance after.
type BillingReporter interface {
	Billed(ctx context.Context, seq int) (Charge, error)
}

// Charge is what one response cost.
type Charge struct {
	// Settled is false while the workflow has not captured it yet.
	Settled bool
	// Amount in micro-credits.
	Amount int64
	// Available is the user's balance after the capture, when known.
	Available *int64
}

// ErrBillingUnavailable: the hold could not be placed because billing
// (Temporal) could not be reached in time. The call goes on; the response
// is billed after the fact when its record arrives.
var ErrBillingUnavailable = errors.New("voice: billing unavailable")

// Hold is the outcome of a reservation.
type Hold struct {
	OK bool
	// Reason says why a hold was refused (e.g. insufficient credits).
	Reason string
	// Amount is what was held, in micro-credits.
	Amount int64
}

// RecordKind names a session record.
type RecordKind string

const (
	RecordTurnStarted     RecordKind = "turn_started"
	RecordTurnEnded       RecordKind = "turn_ended"
	RecordResponseStarted RecordKind = "response_started"
	RecordResponseDone    RecordKind = "response_done"
	RecordInterruption    RecordKind = "interruption"
	RecordSnapshot        RecordKind = "snapshot"
	RecordClosed          RecordKind = "closed"
)

// Record is one thing the workflow should know. Fields that do not apply to
// a Kind are zero.
type Record struct {
	Kind RecordKind
	At   time.Time

	Turn           int
	Duration       time.Duration
	FramesAdmitted int

	// ResponseSeq is the session's own number for a response (billing keys
	// derive from it); ResponseID is the model's id.
	ResponseSeq int
	ResponseID  string
	Status      string
	Usage       Usage
	// Billed says whether a hold was placed before the response started.
	Billed bool

	Snapshot *Figures
	Reason   string
}

// Figures is the compact gate state a snapshot carries.
type Figures struct {
	TurnState      string  `json:"turnState"`
	BarrierClosed  bool    `json:"barrierClosed"`
	Admitted       uint64  `json:"admitted"`
	Held           uint64  `json:"held"`
	Dropped        uint64  `json:"dropped"`
	Echo           uint64  `json:"echo"`
	SpeechStarts   uint64  `json:"speechStarts"`
	SpeechFrames   uint64  `json:"speechFrames"`
	Interruptions  uint64  `json:"interruptions"`
	NoiseFloorDB   float64 `json:"noiseFloorDb"`
	FramesTotal    uint64  `json:"framesTotal"`
	FramesConceal  uint64  `json:"framesConcealed"`
	PlayoutFrames  uint64  `json:"playoutFrames"`
	ModelSendFails uint64  `json:"modelSendFailures"`
}
