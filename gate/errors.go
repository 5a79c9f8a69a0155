package gate

import (
	"errors"
	"fmt"
)

// Code is the gate's error code (CONTRACT.md#gate-errors), carried by error events and by *Error.
type Code string

const (
	CodeInvalidFrame         Code = "INVALID_FRAME"
	CodeUplinkTimeout        Code = "UPLINK_TIMEOUT"
	CodeUplinkError          Code = "UPLINK_ERROR"
	CodeLaneResolutionFailed Code = "LANE_RESOLUTION_FAILED"
	CodeGateClosed           Code = "GATE_CLOSED"
	CodeObserverPanic        Code = "OBSERVER_PANIC"
	CodePlaybackProbeFailed  Code = "PLAYBACK_PROBE_FAILED"
	CodeStaleFlush           Code = "STALE_FLUSH_GENERATION"
)

// Sentinel errors; every error the gate returns matches one of them with
// errors.Is.
var (
	// ErrInvalidFrame matches every *FrameError.
	ErrInvalidFrame = errors.New("gate: invalid frame")
	// ErrClosed is returned for work submitted after Close.
	ErrClosed = errors.New("gate: closed")
	// ErrQueueFull is returned when the uplink queue is full under the
	// Reject policy.
	ErrQueueFull = errors.New("gate: uplink queue full")
	// ErrHeldFull is returned when the held buffer is full under the Reject
	// policy.
	ErrHeldFull = errors.New("gate: held audio buffer full")
	// ErrLaneResolution matches lane resolver failures (error or panic).
	ErrLaneResolution = errors.New("gate: lane resolution failed")
	// ErrUplinkTimeout matches uplink calls that outlived their timeout.
	ErrUplinkTimeout = errors.New("gate: uplink timed out")
	// ErrInvalidConfig is returned by New for a bad Config or Deps.
	ErrInvalidConfig = errors.New("gate: invalid config")
	// ErrServerEvent is returned for a server event that is not a JSON object.
	ErrServerEvent = errors.New("gate: malformed server event")
)

// FrameReason says why a frame was rejected as invalid.
type FrameReason string

const (
	ReasonEmpty            FrameReason = "empty"
	ReasonAmbiguousSamples FrameReason = "ambiguous_samples" // both Int16 and Float32 set
	ReasonSampleRate       FrameReason = "sample_rate"
	ReasonDuration         FrameReason = "duration"
	ReasonLength           FrameReason = "length"
	ReasonNonFinite        FrameReason = "non_finite"
	ReasonOutOfRange       FrameReason = "out_of_range"
	ReasonTimestamp        FrameReason = "timestamp"
	ReasonTimestampBack    FrameReason = "timestamp_backwards"
	ReasonMissingID        FrameReason = "missing_id"
	ReasonTooManyStreams   FrameReason = "too_many_streams"
)

// FrameError is the typed error for an invalid frame. Branch on it with
// errors.As, or on ErrInvalidFrame with errors.Is.
type FrameError struct {
	Reason FrameReason
	// Field is the offending Frame field.
	Field string
	// Detail is a human-readable explanation.
	Detail string
	// FarEnd is true when the frame was a far-end reference frame.
	FarEnd bool
}

func (e *FrameError) Error() string {
	kind := "frame"
	if e.FarEnd {
		kind = "far-end frame"
	}
	return fmt.Sprintf("gate: invalid %s: %s (%s): %s", kind, e.Reason, e.Field, e.Detail)
}

// Is makes errors.Is(err, ErrInvalidFrame) true.
func (e *FrameError) Is(target error) bool { return target == ErrInvalidFrame }

// Code returns CodeInvalidFrame.
func (e *FrameError) Code() Code { return CodeInvalidFrame }

// Error is a gate failure with its contract code, wrapping its cause.
type Error struct {
	Code Code
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "gate: " + string(e.Code)
	}
	return "gate: " + string(e.Code) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Is maps codes to the sentinels, so errors.Is(err, ErrUplinkTimeout) works.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case CodeLaneResolutionFailed:
		return target == ErrLaneResolution
	case CodeUplinkTimeout:
		return target == ErrUplinkTimeout
	case CodeGateClosed:
		return target == ErrClosed
	}
	return false
}

// panicError turns a recovered panic value into an error.
func panicError(what string, v any) error {
	if err, ok := v.(error); ok {
		return fmt.Errorf("%s panicked: %w", what, err)
	}
	return fmt.Errorf("%s panicked: %v", what, v)
}
