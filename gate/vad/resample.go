package vad

// decimator brings a stream down to the internal analysis rate by averaging
// each run of m input samples. A boxcar is a poor anti-alias filter, but for
// detection that does not matter: aliased 4–8 kHz energy (fricatives, hiss)
// folds into the analysed bands on microphone and far end alike, and the
// average costs one add per input sample where a proper FIR cost most of the
// frame budget. It keeps its partial sum across calls, so odd-length frames
// lose nothing, and never allocates.
type decimator struct {
	m    int
	inv  float32
	acc  float32
	have int // inputs in acc
}

func newDecimator(m int) *decimator { return &decimator{m: m, inv: 1 / float32(m)} }

// process appends the decimated samples of in to out (which must have room
// for len(in)/m+1 more samples) and returns the grown slice.
func (d *decimator) process(in []float32, out []float32) []float32 {
	if d.m == 1 {
		return append(out, in...)
	}
	acc, have, m := d.acc, d.have, d.m
	i := 0
	// finish the run left from the previous call
	for have > 0 && have < m && i < len(in) {
		acc += in[i]
		i++
		have++
	}
	if have == m {
		out = append(out, acc*d.inv)
		acc, have = 0, 0
	}
	switch m {
	case 2:
		cnt := (len(in) - i) / 2
		o := len(out)
		out = out[:o+cnt] // capacity is the caller's promise
		dst := out[o:]
		src := in[i : i+2*cnt]
		for j := range dst {
			dst[j] = (src[2*j] + src[2*j+1]) * 0.5
		}
		i += 2 * cnt
	default:
		for ; i+m <= len(in); i += m {
			var s float32
			for _, v := range in[i : i+m] {
				s += v
			}
			out = append(out, s*d.inv)
		}
	}
	for ; i < len(in); i++ {
		acc += in[i]
		have++
	}
	d.acc, d.have = acc, have
	return out
}

func (d *decimator) reset() { d.acc, d.have = 0, 0 }
