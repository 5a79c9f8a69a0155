package gate

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"
	"time"

	"github.com/inferflow/inferflow/gate/vad"
)

// benchFrames synthesises a second of frames alternating speech-like bursts
// (harmonic tone) and low noise, so the benchmark crosses every path:
// silence drop, hangover, admission.
func benchFrames(rate int) [][]int16 {
	n := rate / 50
	rng := rand.New(rand.NewSource(1))
	frames := make([][]int16, 50)
	for i := range frames {
		fr := make([]int16, n)
		speech := (i/10)%2 == 0
		for j := range fr {
			t := float64(i*n+j) / float64(rate)
			v := rng.NormFloat64() * 60
			if speech {
				v += 6000 * (math.Sin(2*math.Pi*180*t) + 0.5*math.Sin(2*math.Pi*360*t) + 0.3*math.Sin(2*math.Pi*720*t))
			}
			fr[j] = int16(max(-32768, min(32767, v)))
		}
		frames[i] = fr
	}
	return frames
}

func BenchmarkProcessFrame(b *testing.B) {
	for _, rate := range []int{8000, 16000, 48000} {
		b.Run(fmt.Sprintf("%dHz", rate), func(b *testing.B) {
			clk := NewManualClock(time.Unix(1000, 0))
			g, err := New(Config{}, Deps{
				Clock:  clk,
				Uplink: UplinkFunc(func(context.Context, Frame, Lane) error { return nil }),
			})
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			frames := benchFrames(rate)
			f := Frame{SessionID: "s", StreamID: "mic", SpeakerID: "u", SampleRate: rate, Duration: 20 * time.Millisecond}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.Int16 = frames[i%len(frames)]
				f.Timestamp = time.Duration(i+1) * 20 * time.Millisecond
				if _, err := g.ProcessFrame(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type nopDetector struct{ n int }

func (d *nopDetector) Process(mic []float32) vad.Decision {
	d.n++
	return vad.Decision{Speech: d.n%4 != 0}
}
func (d *nopDetector) FarEnd([]float32) {}
func (d *nopDetector) Reset()           {}

// BenchmarkProcessFrameGateOnly measures the gate's own cost (detector
// stubbed), with and without an event listener.
func BenchmarkProcessFrameGateOnly(b *testing.B) {
	for _, listen := range []bool{false, true} {
		name := "no-listener"
		var on func(Event)
		if listen {
			name, on = "listener", func(Event) {}
		}
		b.Run(name, func(b *testing.B) {
			g, err := newGate(Config{}, Deps{
				Clock:   NewManualClock(time.Unix(1000, 0)),
				Uplink:  UplinkFunc(func(context.Context, Frame, Lane) error { return nil }),
				OnEvent: on,
			}, func(int) (detector, error) { return &nopDetector{}, nil })
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			f := Frame{SessionID: "s", StreamID: "mic", SpeakerID: "u", SampleRate: 16000,
				Duration: 20 * time.Millisecond, Int16: benchFrames(16000)[0]}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.Timestamp = time.Duration(i+1) * 20 * time.Millisecond
				if _, err := g.ProcessFrame(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
