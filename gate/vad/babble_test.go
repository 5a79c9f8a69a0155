package vad

import (
	"math"
	"math/rand"
	"testing"
)

// randomTalker is one babble voice: a harmonic source with its own gliding
// pitch and formants, cut into syllables of random length and level with
// short random pauses.
func randomTalker(rate, n int, rng *rand.Rand) []float32 {
	f0 := 90 + 150*rng.Float64()
	fm := [3]float64{450 + 400*rng.Float64(), 1000 + 1000*rng.Float64(), 2300 + 700*rng.Float64()}
	v := voiced(rate, n, f0, 1, fm)
	out := make([]float32, n)
	for i := 0; i < n; {
		syl := rate * (80 + rng.Intn(220)) / 1000
		gap := rate * rng.Intn(120) / 1000
		g := 0.3 + rng.Float64()
		for j := 0; j < syl && i+j < n; j++ {
			e := math.Sin(math.Pi * float64(j) / float64(syl))
			out[i+j] = v[i+j] * float32(g*e)
		}
		i += syl + gap
	}
	return out
}

// babbleNoise sums five random talkers.
func babbleNoise(rate, n int, rng *rand.Rand) []float32 {
	out := make([]float32, n)
	for v := 0; v < 5; v++ {
		t := randomTalker(rate, n, rng)
		for i := range out {
			out[i] += t[i]
		}
	}
	return out
}

// Babble alone must mostly be taken for noise once the detector has heard it
// for a few seconds (the non-stationarity measure takes ~4 s to build up;
// without the babble gate babble is speech in most frames); one talker
// 10 dB above it must still be found.
func TestBabbleRejected(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		rng := rand.New(rand.NewSource(seed))
		n := testRate * 12
		bab := babbleNoise(testRate, n, rng)
		s := make([]float32, n)
		v := syllables(voiced(testRate, testRate*3, 115, 0.25, [3]float64{650, 1150, 2500}), testRate)
		copy(s[testRate*7:], v)
		x := mixAt(s, bab, rms(v), 10)
		ds := run(t, testRate, x, nil)
		fa := share(ds, 4.5, 7, user)
		hit := share(ds, 7.1, 9.9, user)
		if fa > 0.3 {
			t.Errorf("seed %d: babble alone taken for speech in %.2f of frames, want ≤ 0.30", seed, fa)
		}
		if hit < 0.5 {
			t.Errorf("seed %d: talker over babble detected in %.2f of frames, want ≥ 0.5", seed, hit)
		}
		t.Logf("seed %d: babble %.2f, talker %.2f", seed, fa, hit)
	}
}

// The babble gate must stay out of the way over stationary noise.
func TestBabbleGateIdleOnStationaryNoise(t *testing.T) {
	for _, kind := range []string{"white", "pink", "brown"} {
		rng := rand.New(rand.NewSource(9))
		s, lvl := talk(testRate, 120, [3]float64{700, 1200, 2600})
		x := mixAt(s, noise(kind, testRate, len(s), rng), lvl, 5)
		d, _ := New(Config{SampleRate: testRate})
		fl := testRate / 50
		for i := 0; (i+1)*fl <= len(x); i++ {
			d.Process(x[i*fl : (i+1)*fl])
			if i > 50 && d.Stats().Babble {
				t.Fatalf("%s noise: babble gate on at %d ms", kind, i*20)
			}
		}
	}
}

// A near talker only ~3 dB above the babble lifts the level for a whole
// run of syllables; frame by frame that lift drowns in the babble's swings,
// averaged over ~200 ms it does not. The slow test must pass most of such a
// stretch and little of babble alone.
func TestBabbleSlowLift(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	var g babbleGate
	var flo [nBands]float32
	for b := range flo {
		flo[b] = 1e-6
	}
	frame := func(liftDB float64) bool {
		// babble: wideband power swinging ±~3 dB frame to frame
		lvl := -30 + liftDB + 2.5*rng.NormFloat64()
		var p [nBands]float32
		for b := range p {
			p[b] = float32(math.Pow(10, lvl/10) / float64(nBands))
		}
		return g.update(&p, &flo, 8, 20)
	}
	for i := 0; i < 500; i++ { // 10 s of babble: gate active, median settled
		frame(0)
	}
	if !g.active {
		t.Fatal("babble gate not active (test premise)")
	}
	var pass, slow int
	for i := 0; i < 250; i++ {
		if frame(0) {
			pass++
		}
	}
	for i := 0; i < 100; i++ {
		frame(3)
		if g.slowOn && i >= 10 {
			slow++
		}
	}
	if r := float64(pass) / 250; r > 0.3 {
		t.Errorf("babble alone passes %.2f of frames, want ≤ 0.30", r)
	}
	if r := float64(slow) / 90; r < 0.8 {
		t.Errorf("sustained 3 dB lift passes the slow test in %.2f of frames, want ≥ 0.8", r)
	}
}
