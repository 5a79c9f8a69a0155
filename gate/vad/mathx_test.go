package vad

import (
	"math"
	"testing"
)

func TestFastMath(t *testing.T) {
	for x := float32(-60); x <= 60; x += 0.037 {
		want := math.Pow(2, float64(x))
		if got := float64(exp2(x)); math.Abs(got-want) > 3e-4*want {
			t.Fatalf("exp2(%g) = %g, want %g", x, got, want)
		}
	}
	for x := float32(1e-12); x < 1e12; x *= 1.37 {
		want := 10 * math.Log10(float64(x))
		if got := float64(dB(x)); math.Abs(got-want) > 0.06 {
			t.Fatalf("dB(%g) = %g, want %g", x, got, want)
		}
		if back := float64(dbToPow(dB(x))); math.Abs(back-float64(x)) > 0.015*float64(x) {
			t.Fatalf("dbToPow(dB(%g)) = %g", x, back)
		}
	}
	if exp2(float32(math.NaN())) != 0 || exp2(-500) != 0 || math.IsInf(float64(exp2(500)), 0) {
		t.Fatal("exp2 edge cases")
	}
}
