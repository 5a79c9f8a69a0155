package vad

import (
	"errors"
	"math"
	"math/rand"
	"testing"
)

// run feeds x (and far, if not nil) in 20 ms frames and returns the decisions.
func run(t testing.TB, rate int, x, far []float32) []Decision {
	t.Helper()
	d, err := New(Config{SampleRate: rate})
	if err != nil {
		t.Fatal(err)
	}
	fl := rate / 50
	var out []Decision
	for i := 0; (i+1)*fl <= len(x); i++ {
		if far != nil {
			d.FarEnd(far[i*fl : (i+1)*fl])
		}
		out = append(out, d.Process(x[i*fl:(i+1)*fl]))
	}
	return out
}

// rate of frames in [from, to) seconds for which pick is true.
func share(ds []Decision, from, to float64, pick func(Decision) bool) float64 {
	a, b := int(from*50), int(to*50)
	if b > len(ds) {
		b = len(ds)
	}
	n := 0
	for _, d := range ds[a:b] {
		if pick(d) {
			n++
		}
	}
	return float64(n) / float64(b-a)
}

func user(d Decision) bool { return d.UserSpeech() }

// talk is noise | speech 2..4.5 s | noise, at rate.
func talk(rate int, f0 float64, fm [3]float64) ([]float32, float64) {
	n := rate * 6
	s := make([]float32, n)
	v := syllables(voiced(rate, rate*5/2, f0, 0.25, fm), rate)
	copy(s[rate*2:], v)
	return s, rms(v)
}

func TestNewRates(t *testing.T) {
	for _, r := range []int{8000, 16000, 24000, 48000} {
		if _, err := New(Config{SampleRate: r}); err != nil {
			t.Errorf("rate %d: %v", r, err)
		}
	}
	for _, r := range []int{0, -1, 11025, 44100} {
		if _, err := New(Config{SampleRate: r}); !errors.Is(err, ErrSampleRate) {
			t.Errorf("rate %d: got %v, want ErrSampleRate", r, err)
		}
	}
}

func TestSpeechInNoise(t *testing.T) {
	male := [3]float64{700, 1200, 2600}
	cases := []struct {
		noise      string
		snr        float64
		minHit     float64 // share of frames inside the speech detected
		maxFalse   float64 // share of noise-only frames detected
		maxFalseAt float64 // noise-only span checked: [maxFalseAt, +1 s)
	}{
		{"white", 10, 0.55, 0.03, 5},
		{"pink", 10, 0.55, 0.03, 5},
		{"brown", 5, 0.55, 0.03, 5},
		{"hum", 0, 0.55, 0.03, 5},
		{"clicks", 0, 0.55, 0.05, 5},
		{"white", 20, 0.65, 0.03, 5},
	}
	for _, c := range cases {
		t.Run(c.noise, func(t *testing.T) {
			rng := rand.New(rand.NewSource(7))
			s, lvl := talk(testRate, 120, male)
			x := mixAt(s, noise(c.noise, testRate, len(s), rng), lvl, c.snr)
			ds := run(t, testRate, x, nil)
			hit := share(ds, 2.1, 4.4, user)
			fa := share(ds, c.maxFalseAt, c.maxFalseAt+1, user)
			fa0 := share(ds, 1, 2, user)
			if hit < c.minHit {
				t.Errorf("speech detected in %.2f of speech frames, want ≥ %.2f", hit, c.minHit)
			}
			if fa > c.maxFalse || fa0 > c.maxFalse {
				t.Errorf("noise taken for speech in %.2f / %.2f of noise frames, want ≤ %.2f", fa0, fa, c.maxFalse)
			}
		})
	}
}

// Pure noise of every kind, never any speech: the detector must stay quiet
// once its floors have settled.
func TestNoiseOnly(t *testing.T) {
	for _, kind := range []string{"white", "pink", "brown", "hum", "clicks"} {
		t.Run(kind, func(t *testing.T) {
			rng := rand.New(rand.NewSource(3))
			x := noise(kind, testRate, testRate*5, rng)
			g := float32(0.05 / rms(x))
			for i := range x {
				x[i] *= g
			}
			ds := run(t, testRate, x, nil)
			if fa := share(ds, 1, 5, user); fa > 0.02 {
				t.Errorf("%s noise taken for speech in %.3f of frames", kind, fa)
			}
		})
	}
}

// A steady tone appearing is not silence, but once it has lasted the floor
// window it must be taken as noise (hum-like), not speech.
func TestSteadyToneBecomesFloor(t *testing.T) {
	n := testRate * 6
	x := make([]float32, n)
	for i := testRate; i < n; i++ {
		x[i] = float32(0.1 * math.Sin(2*math.Pi*1000*float64(i)/testRate))
	}
	ds := run(t, testRate, x, nil)
	if fa := share(ds, 4, 6, user); fa > 0 {
		t.Errorf("steady tone still speech in %.2f of frames after 3 s", fa)
	}
}

func TestRates(t *testing.T) {
	for _, rate := range []int{8000, 24000, 48000} {
		rng := rand.New(rand.NewSource(5))
		s, lvl := talk(rate, 200, [3]float64{800, 1800, 2800})
		x := mixAt(s, noise("white", rate, len(s), rng), lvl, 10)
		ds := run(t, rate, x, nil)
		if hit := share(ds, 2.1, 4.4, user); hit < 0.55 {
			t.Errorf("%d Hz: speech detected in %.2f of frames", rate, hit)
		}
		if fa := share(ds, 5, 6, user); fa > 0.03 {
			t.Errorf("%d Hz: noise detected in %.2f of frames", rate, fa)
		}
	}
}

// echoScene: the assistant talks 1..5 s (far end); the microphone hears it
// 40 ms later, 14 dB down, with reflections, over light noise; optionally
// the user talks over it from 3 to 5 s.
func echoScene(bargeIn bool) (mic, far []float32) {
	rng := rand.New(rand.NewSource(11))
	n := testRate * 6
	far = make([]float32, n)
	a := syllables(voiced(testRate, testRate*4, 210, 0.7, [3]float64{850, 2000, 2900}), testRate)
	copy(far[testRate:], a)
	mic = delayed(far, testRate*40/1000, math.Pow(10, -14.0/20))
	nz := noise("pink", testRate, n, rng)
	g := float32(0.002 / rms(nz))
	for i := range mic {
		mic[i] += g * nz[i]
	}
	if bargeIn {
		u := syllables(voiced(testRate, testRate*2, 105, 0.25, [3]float64{600, 1100, 2400}), testRate)
		for i, v := range u {
			mic[3*testRate+testRate/8+i] += v
		}
	}
	return mic, far
}

func TestEcho(t *testing.T) {
	mic, far := echoScene(false)
	ds := run(t, testRate, mic, far)
	sp := share(ds, 1.5, 5, func(d Decision) bool { return d.Speech })
	us := share(ds, 1.5, 5, user)
	if sp < 0.3 {
		t.Errorf("echo not even seen as speech (%.2f): test scene broken", sp)
	}
	if us > 0.03 {
		t.Errorf("echo taken for user speech in %.2f of frames", us)
	}
	// Without the far end the same audio is plain speech.
	ds = run(t, testRate, mic, nil)
	if us := share(ds, 1.5, 5, user); us < 0.3 {
		t.Errorf("without far end only %.2f user speech", us)
	}
	for _, d := range ds {
		if d.Echo {
			t.Fatal("Echo set without any far-end audio")
		}
	}
}

func TestBargeIn(t *testing.T) {
	mic, far := echoScene(true)
	ds := run(t, testRate, mic, far)
	if us := share(ds, 3.2, 5, user); us < 0.35 {
		t.Errorf("barge-in detected in %.2f of frames, want ≥ 0.35", us)
	}
	if us := share(ds, 1.5, 3, user); us > 0.03 {
		t.Errorf("echo before barge-in taken for user speech in %.2f of frames", us)
	}
}

func TestOddInputsDoNotPanic(t *testing.T) {
	for _, rate := range []int{8000, 16000, 24000, 48000} {
		d, err := New(Config{SampleRate: rate})
		if err != nil {
			t.Fatal(err)
		}
		nan := float32(math.NaN())
		inf := float32(math.Inf(1))
		for _, in := range [][]float32{nil, {}, {0.5}, {1, -1, 1}, make([]float32, 7), make([]float32, 333),
			make([]float32, rate), {nan, inf, -inf, 2, -5}} {
			d.FarEnd(in)
			_ = d.Process(in)
		}
		if got := d.Process(nil); got != (Decision{}) {
			t.Errorf("empty frame: %+v", got)
		}
		d.Reset()
		for i := 0; i < 10; i++ {
			if dec := d.Process(make([]float32, rate/100)); dec.Speech {
				t.Errorf("%d Hz: silence after reset is speech", rate)
			}
		}
	}
}

func TestNoAllocs(t *testing.T) {
	for _, rate := range []int{8000, 16000, 48000} {
		d, _ := New(Config{SampleRate: rate})
		rng := rand.New(rand.NewSource(1))
		x := noise("white", rate, rate/50, rng)
		for i := range x {
			x[i] *= 0.1
		}
		odd := x[:len(x)-3]
		allocs := testing.AllocsPerRun(200, func() {
			d.FarEnd(x)
			d.Process(x)
			d.Process(odd)
		})
		if allocs != 0 {
			t.Errorf("%d Hz: %.1f allocations per frame", rate, allocs)
		}
	}
}

// The delay estimate must find the echo's lag in frames for delays across
// the plausible range, whatever the coupling. A delay on a frame boundary
// (a multiple of 20 ms plus the reflections' spread) may come out either side.
func TestEchoDelayEstimate(t *testing.T) {
	for _, c := range []struct {
		delayMs int
		gainDB  float64
		want    []int
	}{{20, -10, []int{1}}, {30, -14, []int{1, 2}}, {50, -18, []int{2, 3}}, {60, -12, []int{3, 4}}, {90, -14, []int{4, 5}}} {
		rng := rand.New(rand.NewSource(int64(c.delayMs)))
		n := testRate * 6
		far := make([]float32, n)
		a := syllables(voiced(testRate, testRate*5, 200, 0.7, [3]float64{800, 1900, 2900}), testRate)
		copy(far[testRate/2:], a)
		mic := delayed(far, testRate*c.delayMs/1000, math.Pow(10, c.gainDB/20))
		nz := noise("pink", testRate, n, rng)
		g := float32(0.003 / rms(nz))
		for i := range mic {
			mic[i] += g * nz[i]
		}
		d, _ := New(Config{SampleRate: testRate})
		fl := testRate / 50
		for i := 0; (i+1)*fl <= n; i++ {
			d.FarEnd(far[i*fl : (i+1)*fl])
			d.Process(mic[i*fl : (i+1)*fl])
		}
		got := d.Stats().EchoLag
		ok := false
		for _, w := range c.want {
			ok = ok || got == w
		}
		if !ok {
			t.Errorf("delay %d ms: lag %d frames, want one of %v", c.delayMs, got, c.want)
		}
	}
}

// Running speech dips between syllables; the bridge keeps those dips that
// still stand above the floor, and does not turn noise into speech.
func TestHoldBridgesDips(t *testing.T) {
	male := [3]float64{700, 1200, 2600}
	rng := rand.New(rand.NewSource(11))
	s, lvl := talk(testRate, 120, male)
	x := mixAt(s, noise("white", testRate, len(s), rng), lvl, 5)
	detect := func(hold float32) (hit, fa float64) {
		d, err := New(Config{SampleRate: testRate, HoldMs: hold})
		if err != nil {
			t.Fatal(err)
		}
		fl := testRate / 50
		var ds []Decision
		for i := 0; (i+1)*fl <= len(x); i++ {
			ds = append(ds, d.Process(x[i*fl:(i+1)*fl]))
		}
		return share(ds, 2.1, 4.4, user), share(ds, 4.7, 6, user)
	}
	hit0, fa0 := detect(-1)
	hit, fa := detect(0)
	if hit < hit0+0.03 {
		t.Errorf("bridge lifts speech detection from %.3f only to %.3f", hit0, hit)
	}
	if fa > 0.03 || fa > fa0+0.02 {
		t.Errorf("bridge raises false alarms from %.3f to %.3f", fa0, fa)
	}
}

// A lone noise burst of one frame does not arm the bridge.
func TestHoldNeedsSustainedSpeech(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	n := testRate * 3
	x := noise("white", testRate, n, rng)
	g := float32(0.01 / rms(x))
	for i := range x {
		x[i] *= g
	}
	fl := testRate / 50
	at := 2 * testRate // a 20 ms burst, frame-aligned, 20 dB up
	for i := at; i < at+fl; i++ {
		x[i] *= 10
	}
	ds := run(t, testRate, x, nil)
	k := at / fl
	if !ds[k].Speech {
		t.Fatalf("burst not detected (test premise)")
	}
	// The frame right after may still clear OffDB by chance (hysteresis);
	// the bridge must not carry the detector further.
	for j := k + 2; j < k+4; j++ {
		if ds[j].Speech {
			t.Errorf("frame %d after a lone burst taken for speech", j-k)
		}
	}
}
