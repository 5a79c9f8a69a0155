package gate

import (
	"fmt"
	"math"
	"time"
)

// Frame is one slice of mono PCM audio from a microphone (ProcessFrame) or
// from the assistant's playback (ProcessFarEnd). Exactly one of Int16 and
// Float32 is set. The gate copies what it keeps, so the caller may reuse the
// sample slices as soon as the call returns.
type Frame struct {
	SessionID string
	StreamID  string
	SpeakerID string

	// SampleRate in Hz: 8000, 16000, 24000 or 48000.
	SampleRate int
	// Duration of the frame, 10 to 30 ms; len(samples) must equal
	// SampleRate×Duration exactly.
	Duration time.Duration

	// Int16 holds 16-bit PCM samples.
	Int16 []int16
	// Float32 holds samples in [-1, 1].
	Float32 []float32

	// Timestamp is the capture time of the first sample on the stream's
	// media timeline (e.g. from RTP); 0 means unknown and the gate uses its
	// clock. Timestamps must not go backwards within a stream. Use
	// timestamps for all frames of a gate or for none.
	Timestamp time.Duration

	// Seq is assigned by ProcessFrame (ignored on input) and echoed in the
	// Outcome, in events and in the frames the uplink receives, so a caller
	// can follow one frame to the uplink.
	Seq uint64
}

// Samples returns the number of samples the frame holds.
func (f *Frame) Samples() int {
	if f.Int16 != nil {
		return len(f.Int16)
	}
	return len(f.Float32)
}

const (
	minFrameDuration = 10 * time.Millisecond
	maxFrameDuration = 30 * time.Millisecond
	// maxFrameSamples is 30 ms at 48 kHz: the size of every preallocated
	// sample buffer.
	maxFrameSamples = 48000 * 30 / 1000
)

func validRate(r int) bool {
	switch r {
	case 8000, 16000, 24000, 48000:
		return true
	}
	return false
}

// Validate checks the frame on its own (not against the stream's previous
// timestamp). It never panics; a failure is a *FrameError.
func (f *Frame) Validate() error { return f.validate(false) }

func (f *Frame) validate(farEnd bool) error {
	bad := func(r FrameReason, field, format string, args ...any) error {
		return &FrameError{Reason: r, Field: field, Detail: fmt.Sprintf(format, args...), FarEnd: farEnd}
	}
	switch {
	case f.SessionID == "":
		return bad(ReasonMissingID, "SessionID", "session id is required")
	case f.StreamID == "":
		return bad(ReasonMissingID, "StreamID", "stream id is required")
	case f.SpeakerID == "":
		return bad(ReasonMissingID, "SpeakerID", "speaker id is required")
	}
	if f.Int16 != nil && f.Float32 != nil {
		return bad(ReasonAmbiguousSamples, "Int16/Float32", "set exactly one of Int16 and Float32")
	}
	n := f.Samples()
	if n == 0 {
		return bad(ReasonEmpty, "Int16/Float32", "frame holds no samples")
	}
	if f.SampleRate <= 0 || !validRate(f.SampleRate) {
		return bad(ReasonSampleRate, "SampleRate", "%d Hz; want 8000, 16000, 24000 or 48000", f.SampleRate)
	}
	if f.Duration < minFrameDuration || f.Duration > maxFrameDuration {
		return bad(ReasonDuration, "Duration", "%v; want 10ms..30ms", f.Duration)
	}
	// Integer arithmetic: rate×duration must be a whole number of samples.
	num := int64(f.SampleRate) * int64(f.Duration)
	if num%int64(time.Second) != 0 || int64(n) != num/int64(time.Second) {
		return bad(ReasonLength, "Int16/Float32", "%d samples for %d Hz × %v; want %.2f",
			n, f.SampleRate, f.Duration, float64(num)/float64(time.Second))
	}
	if f.Timestamp < 0 {
		return bad(ReasonTimestamp, "Timestamp", "%v is negative", f.Timestamp)
	}
	for i, x := range f.Float32 {
		// One comparison on the happy path; NaN fails it too.
		if x >= -1 && x <= 1 {
			continue
		}
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return bad(ReasonNonFinite, "Float32", "sample %d is %v", i, x)
		}
		return bad(ReasonOutOfRange, "Float32", "sample %d is %v; want [-1, 1]", i, x)
	}
	return nil
}
