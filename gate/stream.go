package gate

import (
	"time"

	"github.com/inferflow/inferflow/gate/vad"
)

// detector is what the gate needs from a voice activity detector;
// *vad.Detector is the real one, tests plug in scripted ones.
type detector interface {
	Process(mic []float32) vad.Decision
	FarEnd(samples []float32)
	Reset()
}

type detectorFactory func(sampleRate int) (detector, error)

func vadFactory(rate int) (detector, error) {
	d, err := vad.New(vad.Config{SampleRate: rate})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// stream is the per-(stream id, sample rate) audio state: its detector,
// conversion buffers and timestamp order. Mic and far-end frames of the same
// stream id share the detector, which needs both to recognise echo.
type stream struct {
	id   string
	rate int
	det  detector

	micBuf []float32
	farBuf []float32

	lastMicTS, lastFarTS time.Duration
	farEndSeen           bool
}

// samples returns the frame as float32, converting int16 into buf without
// allocating.
func samples(f *Frame, buf []float32) []float32 {
	if f.Float32 != nil {
		return f.Float32
	}
	src := f.Int16
	b := buf[:len(src)]
	for i, v := range src {
		b[i] = float32(v) * (1.0 / 32768)
	}
	return b
}

// streamLocked finds or creates the stream of a validated frame.
func (g *Gate) streamLocked(f *Frame, farEnd bool) (*stream, error) {
	if s := g.lastStream; s != nil && s.rate == f.SampleRate && s.id == f.StreamID {
		return s, nil
	}
	for _, s := range g.streams {
		if s.rate == f.SampleRate && s.id == f.StreamID {
			g.lastStream = s
			return s, nil
		}
	}
	if len(g.streams) >= g.cfg.MaxStreams {
		return nil, &FrameError{Reason: ReasonTooManyStreams, Field: "StreamID",
			Detail: "gate already serves MaxStreams streams", FarEnd: farEnd}
	}
	det, err := g.newDetector(f.SampleRate)
	if err != nil {
		return nil, &FrameError{Reason: ReasonSampleRate, Field: "SampleRate", Detail: err.Error(), FarEnd: farEnd}
	}
	s := &stream{
		id: f.StreamID, rate: f.SampleRate, det: det,
		micBuf: make([]float32, maxFrameSamples),
		farBuf: make([]float32, maxFrameSamples),
	}
	g.streams = append(g.streams, s)
	g.lastStream = s
	return s, nil
}

// acceptLocked validates a frame, finds its stream and checks that its
// timestamp does not go backwards.
func (g *Gate) acceptLocked(f *Frame, farEnd bool) (*stream, error) {
	if err := f.validate(farEnd); err != nil {
		return nil, err
	}
	s, err := g.streamLocked(f, farEnd)
	if err != nil {
		return nil, err
	}
	if f.Timestamp > 0 {
		last := &s.lastMicTS
		if farEnd {
			last = &s.lastFarTS
		}
		if f.Timestamp < *last {
			return nil, &FrameError{Reason: ReasonTimestampBack, Field: "Timestamp",
				Detail: "timestamp " + f.Timestamp.String() + " is before the stream's previous " + last.String(), FarEnd: farEnd}
		}
		*last = f.Timestamp
	}
	return s, nil
}
