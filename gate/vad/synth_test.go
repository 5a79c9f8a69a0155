package vad

import (
	"math"
	"math/rand"
)

// Signal generators for the tests: everything is synthesized so the tests
// need no corpus.

const testRate = 16000

// voiced returns a vowel-like signal: a glottal-ish pulse train at f0 (with
// a slow vibrato) through three formant resonators, peak-normalised to amp.
func voiced(rate int, n int, f0, amp float64, formants [3]float64) []float32 {
	out := make([]float32, n)
	type res struct{ a1, a2, y1, y2 float64 }
	var rs [3]res
	for k, f := range formants {
		r := math.Exp(-math.Pi * 80 / float64(rate))
		rs[k] = res{a1: 2 * r * math.Cos(2*math.Pi*f/float64(rate)), a2: -r * r}
	}
	phase := 0.0
	peak := 0.0
	tmp := make([]float64, n)
	for i := range tmp {
		f := f0 * (1 + 0.03*math.Sin(2*math.Pi*5*float64(i)/float64(rate)))
		phase += f / float64(rate)
		x := 0.0
		if phase >= 1 {
			phase -= 1
			x = 1
		}
		y := 0.0
		for k := range rs {
			v := x + rs[k].a1*rs[k].y1 + rs[k].a2*rs[k].y2
			rs[k].y2, rs[k].y1 = rs[k].y1, v
			y += v
		}
		tmp[i] = y
		peak = math.Max(peak, math.Abs(y))
	}
	for i := range out {
		out[i] = float32(tmp[i] / peak * amp)
	}
	return out
}

// syllables modulates a voiced signal into 4 Hz syllables with short gaps,
// as running speech has.
func syllables(x []float32, rate int) []float32 {
	out := make([]float32, len(x))
	for i := range x {
		t := float64(i) / float64(rate)
		env := math.Sin(math.Pi * math.Mod(t*4, 1))
		out[i] = x[i] * float32(env*env)
	}
	return out
}

func noise(kind string, rate, n int, rng *rand.Rand) []float32 {
	out := make([]float32, n)
	switch kind {
	case "white":
		for i := range out {
			out[i] = float32(rng.NormFloat64())
		}
	case "pink":
		var b0, b1, b2 float64
		for i := range out {
			w := rng.NormFloat64()
			b0 = 0.99765*b0 + w*0.0990460
			b1 = 0.96300*b1 + w*0.2965164
			b2 = 0.57000*b2 + w*1.0526913
			out[i] = float32((b0 + b1 + b2 + w*0.1848) / 4)
		}
	case "brown":
		var acc float64
		for i := range out {
			acc = 0.998*acc + rng.NormFloat64()*0.05
			out[i] = float32(acc)
		}
	case "hum":
		for i := range out {
			t := float64(i) / float64(rate)
			v := 0.0
			for h := 1; h <= 7; h++ {
				v += math.Sin(2*math.Pi*50*float64(h)*t) / float64(h)
			}
			out[i] = float32(v + 0.05*rng.NormFloat64())
		}
	case "clicks":
		for i := range out {
			out[i] = float32(0.02 * rng.NormFloat64())
		}
		for t := rng.Intn(rate * 3 / 10); t < n; t += rate * (60 + rng.Intn(400)) / 1000 {
			for j := 0; j < rate*4/1000 && t+j < n; j++ {
				out[t+j] += float32(math.Exp(-float64(j)/30) * rng.NormFloat64() * 8)
			}
		}
	case "babble":
		// five talkers with their own pitch, formants and syllable rate
		for v := 0; v < 5; v++ {
			f0 := 100 + 30*float64(v)
			fm := [3]float64{500 + 80*float64(v), 1400 + 150*float64(v), 2500}
			s := syllables(voiced(rate, n, f0, 1, fm), rate)
			off := rng.Intn(rate)
			for i := range out {
				out[i] += s[(i+off)%n]
			}
		}
	}
	return out
}

func rms(x []float32) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return math.Sqrt(e / math.Max(1, float64(len(x))))
}

// mixAt adds n scaled so that rms(s active)/rms(n) = snrDB.
func mixAt(s, n []float32, speechRMS, snrDB float64) []float32 {
	g := speechRMS / math.Pow(10, snrDB/20) / rms(n)
	out := make([]float32, len(s))
	for i := range s {
		out[i] = s[i] + float32(g)*n[i]
	}
	return out
}

// delayed returns x delayed by d samples, scaled by g, plus two reflections.
func delayed(x []float32, d int, g float64) []float32 {
	out := make([]float32, len(x))
	for _, tap := range []struct {
		d int
		g float64
	}{{d, 1}, {d + d/4 + 80, 0.5}, {d + d/2 + 200, 0.25}} {
		for i := tap.d; i < len(x); i++ {
			out[i] += x[i-tap.d] * float32(g*tap.g)
		}
	}
	return out
}
