package gate

import (
	"fmt"
	"time"
)

// OverflowPolicy says what a full bounded buffer (held audio or uplink
// queue) does with one more frame.
type OverflowPolicy string

const (
	// DropOldest evicts the oldest frame to make room for the new one.
	DropOldest OverflowPolicy = "drop_oldest"
	// DropNewest drops the incoming frame (Action Dropped).
	DropNewest OverflowPolicy = "drop_newest"
	// Reject refuses the incoming frame (Action Rejected, error ErrHeldFull
	// or ErrQueueFull) so the caller can apply backpressure.
	Reject OverflowPolicy = "reject"
)

// BargeInPolicy says what happens to the user's speech while the assistant
// is talking (barrier closed), once a far-end reference lets the gate tell
// the user's voice from the assistant's echo.
type BargeInPolicy string

const (
	// BargeInHold holds barge-in speech and flushes it when the barrier
	// opens, as for all speech (CONTRACT.md#echo-and-barge-in).
	BargeInHold BargeInPolicy = "hold"
	// BargeInAdmit admits barge-in speech at once (flushing anything held
	// first, to keep order) and emits EventInterruption so the caller can
	// cancel the assistant's response.
	BargeInAdmit BargeInPolicy = "admit"
)

// Config tunes a Gate. Zero values take the defaults of CONTRACT.md#gate-configuration (shown in
// brackets); negative values are invalid. Voice activity detection itself is
// tuned in package vad.
type Config struct {
	// Hangover keeps admitting frames this long after the last speech frame
	// so micro-pauses do not cut an utterance [220ms].
	Hangover time.Duration
	// AssistantTailHold keeps the barrier closed this long after the last
	// assistant activity [180ms].
	AssistantTailHold time.Duration
	// MaxBarrierClosed bounds how long the barrier stays closed on end: a
	// lost response.done or a playback probe stuck at true would otherwise
	// mute the user for the rest of the session. When a closure reaches it,
	// the barrier opens (EventBarrierForcedOpen), held audio is flushed, and
	// the barrier stays open until the next response.created. Must exceed
	// AssistantTailHold [30s].
	MaxBarrierClosed time.Duration
	// MaxHoldBuffer bounds the held audio by duration [2200ms].
	MaxHoldBuffer time.Duration
	// MaxHeldFrames bounds the held audio by frame count [80].
	MaxHeldFrames int
	// UplinkTimeout bounds one frame's uplink call [120ms]; a held batch gets
	// max(2×UplinkTimeout, 250ms).
	UplinkTimeout time.Duration
	// MaxQueueDepth bounds frames waiting for an uplink slot [4].
	MaxQueueDepth int
	// MaxConcurrentUplinks is the number of uplink calls in flight at once
	// [1]; with 1, frames reach the uplink in order.
	MaxConcurrentUplinks int
	// OverflowPolicy applies to both held audio and the uplink queue
	// [drop_oldest].
	OverflowPolicy OverflowPolicy
	// BargeIn is the barge-in policy [hold].
	BargeIn BargeInPolicy
	// BargeInPreRoll keeps the last echo-flagged audio of a closed barrier
	// aside, up to this long, and sends it ahead of a barge-in if one
	// follows: the detector needs a few frames before it can tell the user
	// from the echo, and those frames are the start of the user's words
	// (the pre-speech padding voice pipelines use) [100ms; negative: off].
	// Without a barge-in it is dropped as echo.
	BargeInPreRoll time.Duration
	// StreamLabel names the gate in events [default].
	StreamLabel string
	// MaxStreams bounds the number of (stream id, sample rate) detectors a
	// gate keeps; frames of further streams are rejected [8].
	MaxStreams int
	// DisableStateTransitionEvents silences EventStateTransition (the reference's
	// emitStateTransitions=false).
	DisableStateTransitionEvents bool
	// DropDuringAssistantPlayback drops, instead of holding, speech that
	// arrives while the barrier is closed (the reference's
	// bufferDuringAssistantPlayback=false).
	DropDuringAssistantPlayback bool
}

// Defaults (CONTRACT.md#gate-configuration).
const (
	DefaultHangover             = 220 * time.Millisecond
	DefaultAssistantTailHold    = 180 * time.Millisecond
	DefaultMaxHoldBuffer        = 2200 * time.Millisecond
	DefaultMaxHeldFrames        = 80
	DefaultUplinkTimeout        = 120 * time.Millisecond
	DefaultMaxQueueDepth        = 4
	DefaultMaxConcurrentUplinks = 1
	DefaultOverflowPolicy       = DropOldest
	DefaultBargeIn              = BargeInHold
	DefaultStreamLabel          = "default"
	DefaultMaxStreams           = 8
	DefaultBargeInPreRoll       = 100 * time.Millisecond
	DefaultMaxBarrierClosed     = 30 * time.Second

	minBatchTimeout = 250 * time.Millisecond
)

// withDefaults fills zero fields and validates the result.
func (c Config) withDefaults() (Config, error) {
	if c.Hangover == 0 {
		c.Hangover = DefaultHangover
	}
	if c.AssistantTailHold == 0 {
		c.AssistantTailHold = DefaultAssistantTailHold
	}
	if c.MaxBarrierClosed == 0 {
		c.MaxBarrierClosed = DefaultMaxBarrierClosed
	}
	if c.MaxHoldBuffer == 0 {
		c.MaxHoldBuffer = DefaultMaxHoldBuffer
	}
	if c.MaxHeldFrames == 0 {
		c.MaxHeldFrames = DefaultMaxHeldFrames
	}
	if c.UplinkTimeout == 0 {
		c.UplinkTimeout = DefaultUplinkTimeout
	}
	if c.MaxQueueDepth == 0 {
		c.MaxQueueDepth = DefaultMaxQueueDepth
	}
	if c.MaxConcurrentUplinks == 0 {
		c.MaxConcurrentUplinks = DefaultMaxConcurrentUplinks
	}
	if c.OverflowPolicy == "" {
		c.OverflowPolicy = DefaultOverflowPolicy
	}
	if c.BargeIn == "" {
		c.BargeIn = DefaultBargeIn
	}
	if c.StreamLabel == "" {
		c.StreamLabel = DefaultStreamLabel
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	switch {
	case c.BargeInPreRoll == 0:
		c.BargeInPreRoll = DefaultBargeInPreRoll
	case c.BargeInPreRoll < 0:
		c.BargeInPreRoll = 0
	}
	switch {
	case c.Hangover < 0, c.AssistantTailHold < 0, c.MaxHoldBuffer < 0, c.UplinkTimeout < 0, c.MaxBarrierClosed < 0:
		return c, fmt.Errorf("%w: durations must not be negative", ErrInvalidConfig)
	case c.MaxBarrierClosed <= c.AssistantTailHold:
		return c, fmt.Errorf("%w: MaxBarrierClosed %v must exceed AssistantTailHold %v", ErrInvalidConfig, c.MaxBarrierClosed, c.AssistantTailHold)
	case c.MaxHeldFrames < 0, c.MaxQueueDepth < 0, c.MaxConcurrentUplinks < 0, c.MaxStreams < 0:
		return c, fmt.Errorf("%w: limits must not be negative", ErrInvalidConfig)
	}
	switch c.OverflowPolicy {
	case DropOldest, DropNewest, Reject:
	default:
		return c, fmt.Errorf("%w: unknown overflow policy %q", ErrInvalidConfig, c.OverflowPolicy)
	}
	switch c.BargeIn {
	case BargeInHold, BargeInAdmit:
	default:
		return c, fmt.Errorf("%w: unknown barge-in policy %q", ErrInvalidConfig, c.BargeIn)
	}
	return c, nil
}

// batchTimeout is the contract's rule for a held-audio batch.
func (c *Config) batchTimeout() time.Duration {
	return max(2*c.UplinkTimeout, minBatchTimeout)
}
