package vad

import "math"

// decimator low-passes and downsamples a stream by an integer factor to the
// internal analysis rate. It keeps its filter history across calls and its
// phase across odd-length frames, and never allocates after construction.
// decChunk bounds the input taken per pass (30 ms at 48 kHz).
const decChunk = 1440

type decimator struct {
	m     int       // factor
	taps  []float32 // windowed-sinc, len 2L+1; zeros of the halfband kept out below
	idx   []int32   // offsets of the non-zero taps
	hist  []float32 // last len(taps)-1 inputs, oldest first
	work  []float32 // hist followed by one chunk of input
	phase int       // inputs since the last output
}

func newDecimator(m int) *decimator {
	d := &decimator{m: m}
	if m == 1 {
		return d
	}
	l := 3 * m
	n := 2*l + 1
	fc := 0.92 / (2 * float64(m)) // cut just below the new Nyquist
	var sum float64
	full := make([]float64, n)
	for i := range full {
		t := float64(i - l)
		s := 2 * fc
		if t != 0 {
			s = math.Sin(2*math.Pi*fc*t) / (math.Pi * t)
		}
		w := 0.5 + 0.5*math.Cos(math.Pi*t/float64(l+1)) // Hann
		full[i] = s * w
		sum += full[i]
	}
	for i, v := range full {
		if math.Abs(v/sum) > 1e-6 {
			d.taps = append(d.taps, float32(v/sum))
			d.idx = append(d.idx, int32(i))
		}
	}
	d.hist = make([]float32, n-1)
	d.work = make([]float32, n-1+decChunk)
	return d
}

// process filters in and appends outputs to out (which must have room for
// len(in)/m+1 more samples); it returns the grown slice. Input is taken in
// chunks through a linear work buffer so the hot loop is a plain dot product.
func (d *decimator) process(in []float32, out []float32) []float32 {
	if d.m == 1 {
		return append(out, in...)
	}
	nh := len(d.hist)
	w := d.work
	for len(in) > 0 {
		c := len(in)
		if c > decChunk {
			c = decChunk
		}
		copy(w, d.hist)
		copy(w[nh:], in[:c])
		// first output: the input at which phase reaches m
		p := d.m - 1 - d.phase // index into in of the first output sample
		for ; p < c; p += d.m {
			base := w[p : p+nh+1] // window ending at the sample at in[p]
			var acc float32
			for k, t := range d.taps {
				acc += t * base[d.idx[k]]
			}
			out = append(out, acc)
		}
		d.phase = (d.phase + c) % d.m
		copy(d.hist, w[c:c+nh])
		in = in[c:]
	}
	return out
}

func (d *decimator) reset() {
	for i := range d.hist {
		d.hist[i] = 0
	}
	d.phase = 0
}
