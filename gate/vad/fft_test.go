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
