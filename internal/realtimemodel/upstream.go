package realtimemodel

import (
	"context"
	"errors"
)

// Upstream is a voice session's view of one realtime model connection: the
// session sends the caller's admitted audio and turn boundaries, and reads
// server events. Its methods are safe for concurrent use; calls are applied
// in the order they return.
//
// Methods report only local failures (bad input, ctx done, upstream ended).
// What the model refuses (e.g. response.create with nothing committed) comes
// back as an *ErrorEvent on Events, as from a real service.
//
// Events is bounded (see SimConfig.EventBuffer). The consumer must read it
// promptly and never block for long between reads: if it stays full for
// longer than the slow-consumer timeout the upstream ends, Err returns an
// error matching ErrSlowConsumer and Events is closed. Nothing is dropped
// or coalesced silently: a consumer sees every event or learns that the
// upstream ended. Methods may be called from the goroutine that reads
// Events (e.g. CancelResponse on a barge-in); they block only while the
// upstream is itself waiting for room in Events, and never past ctx.
// After the upstream ended they return an error wrapping Err().
type Upstream interface {
	// SendAudio appends admitted user audio: PCM16 mono at InputRate
	// (16 kHz), at most MaxAppendSamples. The upstream resamples it to
	// ServiceRate and sends input_audio_buffer.append. pcm is not retained.
	SendAudio(ctx context.Context, pcm []int16) error
	// CommitTurn ends the user turn: input_audio_buffer.commit.
	CommitTurn(ctx context.Context) error
	// ClearInput drops uncommitted audio: input_audio_buffer.clear.
	ClearInput(ctx context.Context) error
	// CreateResponse asks for a reply to the committed turn:
	// response.create. It is separate from CommitTurn because billing
	// places a hold in between. tag (at most MaxTagBytes, may be empty) is
	// sent as response metadata[MetadataTagKey] and echoed in the response
	// object of response.created and response.done, so the caller can tie
	// the server-assigned response id to its own hold.
	CreateResponse(ctx context.Context, tag string) error
	// CancelResponse is barge-in: response.cancel, then
	// output_audio_buffer.clear.
	CancelResponse(ctx context.Context) error
	// Events delivers server events in order; it is closed when the
	// upstream ends. It returns the same channel every time.
	Events() <-chan ServerEvent
	// Err says why the upstream ended: nil while it runs, ErrClosed after
	// Close, else the failure (ErrSlowConsumer, ErrSimulatedFailure, ...).
	// It is set before Events is closed.
	Err() error
	// Close ends the upstream and frees its goroutines and timers; Events
	// is closed when it returns. It is idempotent and always returns nil.
	Close() error
}

// Input bounds.
const (
	// MaxAppendSamples bounds one SendAudio call: 15 s at InputRate (a
	// held batch of the gate is at most a few seconds).
	MaxAppendSamples = 15 * InputRate
	// MaxTagBytes bounds CreateResponse's tag.
	MaxTagBytes = 64
)

// Upstream errors.
var (
	// ErrClosed: the upstream was closed by Close.
	ErrClosed = errors.New("realtimemodel: upstream closed")
	// ErrSlowConsumer: Events stayed full past the slow-consumer timeout.
	ErrSlowConsumer = errors.New("realtimemodel: event consumer too slow")
	// ErrSimulatedFailure: the simulator failed on purpose
	// (SimConfig.FailAfterDeltas).
	ErrSimulatedFailure = errors.New("realtimemodel: simulated upstream failure")
	// ErrInvalidInput: a method argument is out of bounds.
	ErrInvalidInput = errors.New("realtimemodel: invalid input")
	// ErrInvalidConfig: NewSimulated got a bad SimConfig.
	ErrInvalidConfig = errors.New("realtimemodel: invalid config")
)
