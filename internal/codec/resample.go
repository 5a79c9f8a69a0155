package codec

import "math"

// upsampler raises the sample rate by an integer factor with a windowed-sinc
// polyphase FIR (Blackman window, cut-off at 90 % of the input's Nyquist
// frequency). It keeps its history across calls, so a stream can be fed in
// pieces of any size.
type upsampler struct {
	factor int
	taps   int         // per phase
	coef   [][]float32 // [phase][tap]
	hist   []float32   // last taps-1 input samples, oldest first, then scratch
}

const upsamplerTaps = 16

func newUpsampler(factor int) *upsampler {
	u := &upsampler{factor: factor, taps: upsamplerTaps}
	// An odd-length prototype puts its centre on a sample, so the delay
	// is a whole number of output samples (the last tap stays zero).
	n := factor * upsamplerTaps
	if n%2 == 0 {
		n--
	}
	fc := 0.45 / float64(factor) // cycles per output sample
	center := float64(n-1) / 2
	proto := make([]float64, factor*upsamplerTaps)
	for m := range n {
		x := float64(m) - center
		s := 2 * fc
		if x != 0 {
			s = math.Sin(2*math.Pi*fc*x) / (math.Pi * x)
		}
		w := 0.42 - 0.5*math.Cos(2*math.Pi*float64(m)/float64(n-1)) + 0.08*math.Cos(4*math.Pi*float64(m)/float64(n-1))
		proto[m] = float64(factor) * s * w
	}
	u.coef = make([][]float32, factor)
	for p := range u.coef {
		u.coef[p] = make([]float32, upsamplerTaps)
		for k := range upsamplerTaps {
			u.coef[p][k] = float32(proto[k*factor+p])
		}
	}
	u.hist = make([]float32, upsamplerTaps-1)
	return u
}

// delay is the filter's group delay in output samples.
func (u *upsampler) delay() int {
	n := u.factor * u.taps
	if n%2 == 0 {
		n--
	}
	return (n - 1) / 2
}

// process writes len(in)*factor samples to out (which must hold them) and
// returns that count.
func (u *upsampler) process(in []int16, out []int16) int {
	h := len(u.hist) - (u.taps - 1)
	x := u.hist[h:] // the last taps-1 samples
	buf := append(u.hist[:0], x...)
	for _, s := range in {
		buf = append(buf, float32(s))
	}
	o := 0
	for i := u.taps - 1; i < len(buf); i++ {
		win := buf[i-u.taps+1 : i+1]
		for p := range u.factor {
			c := u.coef[p]
			var acc float32
			for k := range u.taps {
				acc += c[k] * win[len(win)-1-k]
			}
			out[o] = clip16(acc)
			o++
		}
	}
	u.hist = buf
	return o
}

func clip16(v float32) int16 {
	switch {
	case v > 32767:
		return 32767
	case v < -32768:
		return -32768
	}
	return int16(math.Round(float64(v)))
}
