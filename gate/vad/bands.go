package vad

import "math"

// Internal analysis runs at 8 kHz: speech evidence below 4 kHz is enough to
// tell voice from noise, and it keeps one 128-point FFT per frame for every
// input rate (a frame longer than 16 ms is folded onto it, see bands).
const (
	internalRate = 8000
	fftSize      = 128
	maxAnalysis  = 256 // longest analysed frame, 32 ms at 8 kHz
	minAnalysis  = 64  // shortest, so tiny frames still give a spectrum
	// farFFTSize is the far end's FFT: the echo prediction needs band
	// levels only.
	farFFTSize = 128
)

// bandEdgesHz split 250..3800 Hz into roughly critical bands. The lowest band
// starts above the mains fundamentals; mains harmonics that reach into it are
// stationary and end up in the noise floor.
var bandEdgesHz = [...]float32{250, 375, 500, 650, 800, 1000, 1250, 1550, 1900, 2300, 2800, 3300, 3800}

const nBands = len(bandEdgesHz) - 1

// spectrum turns a block of 8 kHz samples into band powers (mean power per
// sample per band), with its own window cache and FFT scratch.
type spectrum struct {
	size   int
	fft    *realFFT
	win    []float32 // Hann of length winLen, scaled to unit power
	fold   []float32 // windowed block folded to size samples
	winLen int
	nbins  [nBands]float32
	pow    []float32 // |X_k|^2
	lo, hi [nBands]int
}

// newSpectrum analyses blocks of up to size samples (a power of two).
func newSpectrum(size int) *spectrum {
	s := &spectrum{size: size, fft: newRealFFT(size), win: make([]float32, maxAnalysis), fold: make([]float32, size),
		pow: make([]float32, size/2+1)}
	bin := float32(internalRate) / float32(size)
	for b := 0; b < nBands; b++ {
		s.lo[b] = int(bandEdgesHz[b]/bin + 0.5)
		s.hi[b] = int(bandEdgesHz[b+1]/bin + 0.5)
		s.nbins[b] = float32(s.hi[b] - s.lo[b])
	}
	// only the bins the bands use
	s.fft.k0, s.fft.k1 = s.lo[0], s.hi[nBands-1]

	return s
}

// bands analyses x (len minAnalysis..size; a longer x keeps its tail) into out.
func (s *spectrum) bands(x []float32, out *[nBands]float32) {
	if len(x) > maxAnalysis {
		x = x[len(x)-maxAnalysis:]
	}

	n := len(x)
	if n != s.winLen {
		// Recomputed only when the frame length changes; writes into the
		// preallocated window, no allocation.
		var e float64
		for i := 0; i < n; i++ {
			w := 0.5 - 0.5*math.Cos(2*math.Pi*(float64(i)+0.5)/float64(n))
			s.win[i] = float32(w)
			e += w * w
		}
		g := float32(1 / math.Sqrt(e*float64(s.size)))
		for i := 0; i < n; i++ {
			s.win[i] *= g
		}
		s.winLen = n
	}
	// A block longer than the FFT is windowed whole and folded (time
	// aliased) onto size samples: the FFT then samples the spectrum of
	// the whole windowed block at size points, so a 20 ms frame keeps
	// its full resolution (Hann over 20 ms resolves ~75 Hz, finer than
	// the 62.5 Hz bins of 128 points at 8 kHz) and every sample counts.
	if n <= s.size {
		s.fft.windowedPower(x, s.win[:n], s.pow)
	} else {
		f := s.fold[:s.size]
		w := s.win[:n]
		for i := range f {
			f[i] = x[i] * w[i]
		}
		for j := s.size; j < n; j += s.size {
			m := min(n-j, s.size)
			xs, ws, fs := x[j:j+m], w[j:j+m], f[:m]
			for i := range fs {
				fs[i] += xs[i] * ws[i]
			}
		}
		s.fft.power(f, s.pow)
	}
	for b := 0; b < nBands; b++ {
		var acc float32
		for k := s.lo[b]; k < s.hi[b]; k++ {
			acc += s.pow[k]
		}
		out[b] = acc * 2 // one-sided spectrum
	}
}
