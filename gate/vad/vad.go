// Package vad decides, frame by frame, whether a microphone frame holds the
// user's speech, and whether what it holds is only echo of the assistant's
// own playback (the far-end reference).
//
// PLACEHOLDER: this first version is a plain energy detector so that the gate
// compiles against the final API. The detection helper replaces its insides;
// the exported API below is the contract the gate relies on.
package vad

import (
	"errors"
	"fmt"
)

// Decision is the detector's verdict on one microphone frame.
type Decision struct {
	// Speech is true when the frame holds speech (user or echo) above the
	// noise floor.
	Speech bool
	// Echo is true when the speech in the frame is explained by the far-end
	// reference, i.e. it is the assistant's own voice coming back. Always
	// false when no far-end audio has been fed.
	Echo bool
	// Score is the detector's confidence that the frame holds user speech,
	// in [0,1]; for logs and evaluation only.
	Score float32
}

// UserSpeech reports whether the frame holds speech that is not only echo.
func (d Decision) UserSpeech() bool { return d.Speech && !d.Echo }

// Config configures a Detector. Zero values take defaults.
type Config struct {
	// SampleRate of both microphone and far-end samples: 8000, 16000, 24000 or 48000.
	SampleRate int
}

// ErrSampleRate is returned by New for an unsupported sample rate.
var ErrSampleRate = errors.New("vad: unsupported sample rate")

// Detector holds the adaptive state of one audio stream. It is not safe for
// concurrent use; the gate serialises calls per stream.
type Detector struct {
	cfg        Config
	noiseFloor float64
}

// New returns a detector for one stream.
func New(cfg Config) (*Detector, error) {
	switch cfg.SampleRate {
	case 8000, 16000, 24000, 48000:
	default:
		return nil, fmt.Errorf("%w: %d Hz", ErrSampleRate, cfg.SampleRate)
	}
	return &Detector{cfg: cfg}, nil
}

// FarEnd feeds far-end reference samples (what the assistant plays), in
// playback order, on the same timeline as the microphone frames. It must not
// allocate on the hot path.
func (d *Detector) FarEnd(samples []float32) {}

// Process classifies one microphone frame of 10 to 30 ms, samples in [-1, 1].
// It must not allocate.
func (d *Detector) Process(mic []float32) Decision {
	var e float64
	for _, s := range mic {
		e += float64(s) * float64(s)
	}
	if len(mic) > 0 {
		e /= float64(len(mic))
	}
	if d.noiseFloor == 0 {
		d.noiseFloor = e + 1e-9
	}
	speech := e > 4*d.noiseFloor && e > 1e-6
	if !speech {
		d.noiseFloor = 0.95*d.noiseFloor + 0.05*e
	}
	var score float32
	if speech {
		score = 1
	}
	return Decision{Speech: speech, Score: score}
}

// Reset forgets all adaptive state.
func (d *Detector) Reset() { d.noiseFloor = 0 }
