package realtimemodel

import "math"

// Resampler converts a PCM16 stream between two rates by a rational factor
// up/down with a polyphase windowed-sinc low-pass. It keeps state across
// calls, so a stream cut into frames resamples exactly like the whole; it
// is not safe for concurrent use.
type Resampler struct {
	up, down int
	taps     int         // per phase
	h        [][]float32 // h[phase][k], DC gain 1 per phase
	buf      []float32   // taps-1 samples of history, then the current input
	in       int64       // stream index of the first sample of the current input
	u        int64       // position of the next output on the up-sampled grid
}

// resampleTaps per phase: about 3.7 kHz of transition band for 16 → 24 kHz,
// ample for speech band-limited by the 16 kHz microphone path.
const resampleTaps = 24

// NewResampler returns a resampler from inRate to outRate (Hz, positive).
func NewResampler(inRate, outRate int) *Resampler {
	g := gcd(inRate, outRate)
	up, down := outRate/g, inRate/g
	r := &Resampler{up: up, down: down, taps: resampleTaps}
	n := up * resampleTaps
	// Cut-off at 90% of the lower Nyquist frequency, relative to the
	// up-sampled rate.
	fc := 0.9 * 0.5 / float64(max(up, down))
	proto := make([]float64, n)
	mid := float64(n-1) / 2
	for i := range proto {
		x := float64(i) - mid
		s := 2 * fc
		if x != 0 {
			s = math.Sin(2*math.Pi*fc*x) / (math.Pi * x)
		}
		w := 0.42 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1)) + 0.08*math.Cos(4*math.Pi*float64(i)/float64(n-1))
		proto[i] = s * w
	}
	r.h = make([][]float32, up)
	for p := range up {
		r.h[p] = make([]float32, resampleTaps)
		var sum float64
		for k := range resampleTaps {
			sum += proto[p+k*up]
		}
		for k := range resampleTaps {
			r.h[p][k] = float32(proto[p+k*up] / sum)
		}
	}
	r.buf = make([]float32, resampleTaps-1)
	return r
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// outLen is how many samples process will append for n more input samples.
func (r *Resampler) outLen(n int) int {
	end := (r.in + int64(n)) * int64(r.up) // first grid position past the input
	if r.u >= end {
		return 0
	}
	return int((end - r.u + int64(r.down) - 1) / int64(r.down))
}

// Process appends the output for src to dst and returns it.
func (r *Resampler) Process(dst []int16, src []int16) []int16 {
	t := r.taps
	r.buf = r.buf[:t-1]
	for _, s := range src {
		r.buf = append(r.buf, float32(s))
	}
	end := r.in + int64(len(src))
	for {
		i := r.u / int64(r.up) // newest input sample this output uses
		if i >= end {
			break
		}
		h := r.h[r.u%int64(r.up)]
		b := int(i - r.in)
		x := r.buf[b : b+t] // x[t-1] is input i, x[t-1-k] is input i-k
		var acc float32
		for k, c := range h {
			acc += c * x[t-1-k]
		}
		dst = append(dst, clip16(acc))
		r.u += int64(r.down)
	}
	r.in = end
	copy(r.buf, r.buf[len(r.buf)-(t-1):])
	r.buf = r.buf[:t-1]
	return dst
}

func clip16(v float32) int16 {
	switch {
	case v >= 32767:
		return 32767
	case v <= -32768:
		return -32768
	case v >= 0:
		return int16(v + 0.5)
	}
	return int16(v - 0.5)
}
