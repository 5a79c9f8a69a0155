package gate

import (
	"math"
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
	micSeen              bool
}

// statsDetector is a detector that exposes its measures (*vad.Detector).
type statsDetector interface {
	Stats() vad.Stats
}

// StreamNoise is what one stream's detector hears as background, for
// display. Levels are in the detector's dB scale: band power of samples in
// [-1, 1] over 250-3800 Hz, averaged over its analysis bands, so a
// full-scale sine reads about -3 dB in its band and digital silence about
// -90 dB. Compare them with each other, not with a dBFS meter.
type StreamNoise struct {
	StreamID   string
	SampleRate int
	// FloorDB is the noise floor the detector tracks (its band floors,
	// power-averaged).
	FloorDB float32
	// LevelDB is the level of the latest microphone frame, same scale.
	LevelDB float32
	// ExcessDB is the latest frame's speech evidence: the mean excess of its
	// loudest bands over their floors (vad.Stats.ExcessDB).
	ExcessDB float32
	// Babble: the detector takes the background for babble (other voices).
	Babble bool
}

// noise reports the stream's noise measures; ok is false when its detector
// exposes none or it has had no microphone frame.
func (s *stream) noise() (n StreamNoise, ok bool) {
	sd, isStats := s.det.(statsDetector)
	if !isStats || !s.micSeen {
		return n, false
	}
	st := sd.Stats()
	return StreamNoise{
		StreamID:   s.id,
		SampleRate: s.rate,
		FloorDB:    meanDB(st.FloorDB[:]),
		LevelDB:    meanDB(st.LevelDB[:]),
		ExcessDB:   st.ExcessDB,
		Babble:     st.Babble,
	}, true
}

// meanDB is the power average of dB values, in dB.
func meanDB(v []float32) float32 {
	if len(v) == 0 {
		return 0
	}
	var sum float64
	for _, x := range v {
		sum += math.Pow(10, float64(x)/10)
	}
	return float32(10 * math.Log10(sum/float64(len(v))))
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
