package vad

import (
	"fmt"
	"math/rand"
	"testing"
)

// BenchmarkDetector times Process on 20 ms frames of noisy speech.
func BenchmarkDetector(b *testing.B) {
	for _, rate := range []int{8000, 16000, 48000} {
		for _, far := range []bool{false, true} {
			b.Run(fmt.Sprintf("%dHz/farend=%v", rate, far), func(b *testing.B) {
				rng := rand.New(rand.NewSource(1))
				n := rate * 2
				s := syllables(voiced(rate, n, 120, 0.3, [3]float64{700, 1200, 2600}), rate)
				x := mixAt(s, noise("pink", rate, n, rng), 0.1, 10)
				d, err := New(Config{SampleRate: rate})
				if err != nil {
					b.Fatal(err)
				}
				fl := rate / 50
				frames := n / fl
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					k := i % frames
					if far {
						d.FarEnd(s[k*fl : (k+1)*fl])
					}
					d.Process(x[k*fl : (k+1)*fl])
				}
			})
		}
	}
}
