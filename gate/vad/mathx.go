package vad

import "math"

// log2 returns log2(x) to within ~0.02 (≈0.05 dB) using the float's exponent
// and a quadratic for the mantissa: math.Log10 per band would eat much of the
// per-frame budget.
func log2(x float32) float32 {
	if !(x > 1e-20) { // also catches NaN
		x = 1e-20
	}
	bits := math.Float32bits(x)
	e := float32(int32(bits>>23&0xff) - 127)
	m := math.Float32frombits(bits&0x7fffff | 0x3f800000)
	return e + (-0.34484843*m+2.02466578)*m - 1.67487759
}

// exp2 returns 2^x to within ~3e-4 relative (0.001 dB): integer part into the exponent,
// a cubic for the fraction. x is clamped to ±126.
func exp2(x float32) float32 {
	if !(x > -126) { // also catches NaN
		return 0
	}
	if x > 126 {
		x = 126
	}
	fi := float32(int32(x))
	if fi > x {
		fi--
	}
	f := x - fi
	// minimax-ish cubic for 2^f on [0,1)
	p := ((0.0790269*f+0.2243360)*f+0.6966296)*f + 0.9999998
	return p * math.Float32frombits(uint32(int32(fi)+127)<<23)
}

// dB returns 10·log10(x) (see log2 for the accuracy).
func dB(x float32) float32 { return 3.0103 * log2(x) }

// dbToPow inverts dB.
func dbToPow(x float32) float32 { return exp2(x * 0.33219281) }

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
