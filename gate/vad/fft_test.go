package vad

import (
	"math"
	"math/rand"
	"testing"
)

// The real FFT's power spectrum must match a direct DFT.
func TestRealFFTPower(t *testing.T) {
	for _, n := range []int{64, 128, 256} {
		rng := rand.New(rand.NewSource(int64(n)))
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		got := make([]float32, n/2+1)
		newRealFFT(n).power(x, got)
		for k := 0; k <= n/2; k++ {
			var re, im float64
			for i, v := range x {
				a := -2 * math.Pi * float64(k*i) / float64(n)
				re += float64(v) * math.Cos(a)
				im += float64(v) * math.Sin(a)
			}
			want := re*re + im*im
			if math.Abs(float64(got[k])-want) > 1e-3*(want+float64(n)) {
				t.Fatalf("n=%d k=%d: power %g, want %g", n, k, got[k], want)
			}
		}
	}
}

// windowedPower equals power of the windowed, zero-padded block, for odd
// and even lengths.
func TestRealFFTWindowedPower(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for _, m := range []int{64, 101, 160, 256} {
		x := make([]float32, m)
		w := make([]float32, m)
		pad := make([]float32, 256)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
			w[i] = float32(rng.Float64())
			pad[i] = x[i] * w[i]
		}
		f := newRealFFT(256)
		got, want := make([]float32, 129), make([]float32, 129)
		f.windowedPower(x, w, got)
		f.power(pad, want)
		for k := range got {
			if math.Abs(float64(got[k]-want[k])) > 1e-4*(float64(want[k])+1) {
				t.Fatalf("m=%d k=%d: %g, want %g", m, k, got[k], want[k])
			}
		}
	}
}

// BenchmarkBands times the band analysis of one 20 ms frame at 8 kHz (160
// samples windowed, folded onto the 128-point FFT).
func BenchmarkBands(b *testing.B) {
	x := make([]float32, 160)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	s := newSpectrum(fftSize)
	var out [nBands]float32
	for i := 0; i < b.N; i++ {
		s.bands(x, &out)
	}
}

// A 20 ms block folded onto the 128-point FFT gives the band powers of the
// 256-point, zero-padded analysis: tones and noise land in the same bands at
// the same level.
func TestFoldedBandsMatchLongFFT(t *testing.T) {
	short, long := newSpectrum(128), newSpectrum(256)
	var a, b [nBands]float32
	x := make([]float32, 160)
	for _, hz := range []float64{300, 560, 910, 1420, 2050, 2600, 3500} {
		for i := range x {
			x[i] = float32(0.3 * math.Sin(2*math.Pi*hz*float64(i)/internalRate+0.4))
		}
		short.bands(x, &a)
		long.bands(x, &b)
		var peak float32
		for k := 0; k < nBands; k++ {
			peak = max(peak, b[k])
		}
		// the tone's band and any band within 10 dB of it (not leakage)
		for k := 0; k < nBands; k++ {
			if b[k] < peak/10 {
				continue
			}
			if d := dB(a[k]) - dB(b[k]); d > 1.5 || d < -1.5 {
				t.Errorf("%g Hz band %d: folded %.1f dB, long %.1f dB", hz, k, dB(a[k]), dB(b[k]))
			}
		}
	}
	rng := rand.New(rand.NewSource(2))
	var sa, sb float64
	for rep := 0; rep < 50; rep++ {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		short.bands(x, &a)
		long.bands(x, &b)
		for k := 0; k < nBands; k++ {
			sa += float64(a[k])
			sb += float64(b[k])
		}
	}
	if r := 10 * math.Log10(sa/sb); math.Abs(r) > 0.3 {
		t.Errorf("white noise: folded bands %.2f dB off the long FFT's", r)
	}
}
