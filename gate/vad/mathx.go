package vad

import "math"

// dB returns 10·log10(x) to within ~0.05 dB using the float's exponent and a
// quadratic for the mantissa: math.Log10 per band would eat much of the
// per-frame budget.
func dB(x float32) float32 {
	if !(x > 1e-20) { // also catches NaN
		x = 1e-20
	}
	bits := math.Float32bits(x)
	e := float32(int32(bits>>23&0xff) - 127)
	m := math.Float32frombits(bits&0x7fffff | 0x3f800000)
	l2 := e + (-0.34484843*m+2.02466578)*m - 0.67487759
	return 3.0103 * l2
}

func clamp(x, lo, hi float32) float32 {
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// dbToPow inverts dB; only used a dozen times a frame.
func dbToPow(x float32) float32 { return float32(math.Pow(10, float64(x)/10)) }
