package vad

// Babble (several talkers summed) never falls silent and its band levels
// swing by several dB from frame to frame, so against a minimum-statistics
// floor it looks like speech all the time. Two measures catch it:
//
//   - non-stationarity: how far the bands' low-quantile level sits above
//     their minimum over the floor window. A stationary noise (white, pink,
//     brown, hum) keeps the two within ~2–3 dB, with or without speech on
//     top, since the quantile tracker pauses on clear speech; babble spreads
//     them 5–15 dB apart.
//   - the wideband level over a slow median tracker of the background. The
//     user's own voice is louder than the babble (it is the talker close to
//     the microphone), while babble alone wanders around its median.
//
// While the background is babble-like, speech also needs the wideband level
// to clear the babble median by babbleOnDB (babbleOffDB to continue), or the
// same level smoothed over ~200 ms to clear it by babbleSlowOnDB
// (babbleSlowOffDB): babble's own swings last a syllable of one of its
// talkers and average out over that span, while the near talker holds a
// lift of a few dB over a whole run of syllables — including the weaker
// ones the frame-level test misses. Over stationary noise and silence the
// extra condition is off, so it costs no recall there.
const (
	babbleNSOn       = 4    // smoothed non-stationarity (dB) that marks babble
	babbleNSOff      = 3    // and that releases it
	babbleNSSmooth   = 0.98 // per 20 ms frame
	babbleOnDB       = 2.5  // wideband excess over the babble median to start speech
	babbleOffDB      = 1.5  // and to continue it
	babbleStepDB     = 0.1  // median tracker step per 20 ms frame
	babbleFastMs     = 1500 // tracker runs 4× faster this long after a reset
	babbleFreezeDB   = 5    // excess at which the tracker pauses...
	babbleMaxHoldMs  = 3000 // ...but never for longer than this
	babbleLvlSmooth  = 0.5  // weight of the previous wideband power
	babbleSlowSmooth = 0.9  // the same over ~200 ms, per 20 ms frame
	babbleSlowOnDB   = 2    // slow excess over the median to start speech
	babbleSlowOffDB  = 1    // and to continue it
)

type babbleGate struct {
	started  bool
	pow      float32 // smoothed wideband power
	slowPow  float32 // wideband power smoothed over ~200 ms
	slowOn   bool    // slow excess hysteresis state
	med      float32 // median tracker of the wideband level, dB
	ns       float32 // smoothed non-stationarity, dB
	active   bool    // background judged babble-like
	on       bool    // wideband excess hysteresis state
	ageMs    float32
	frozenMs float32
	excess   float32 // last wideband excess over the median, dB
}

func (g *babbleGate) reset() { *g = babbleGate{} }

// update folds in one frame: band powers p and the per-band floors flo (both
// linear) and the floor's non-stationarity (dB). It reports whether the frame
// may be speech as far as babble is concerned.
func (g *babbleGate) update(p *[nBands]float32, flo *[nBands]float32, nonstat, frameMs float32) bool {
	var tp, tf float32
	for b := 0; b < nBands; b++ {
		tp += p[b]
		tf += flo[b]
	}
	k := frameMs / 20
	if !g.started {
		g.started = true
		g.pow = tp
		g.slowPow = tp
		g.med = dB(tp + absFloorPow)
		g.ns = nonstat
	}
	a := pow1(babbleLvlSmooth, k)
	g.pow = a*g.pow + (1-a)*tp
	a = pow1(babbleSlowSmooth, k)
	g.slowPow = a*g.slowPow + (1-a)*tp
	lvl := dB(g.pow + absFloorPow)
	// The floors' own wideband level bounds the median from below: it pulls
	// the tracker up when it started in a quiet moment.
	if lf := dB(tf + absFloorPow); g.med < lf {
		g.med = lf
	}
	x := lvl - g.med
	g.excess = x
	g.ageMs += frameMs
	step := babbleStepDB * k
	fast := g.ageMs < babbleFastMs
	if fast {
		step *= 4
	}
	if x > babbleFreezeDB && g.frozenMs < babbleMaxHoldMs && !fast {
		g.frozenMs += frameMs
	} else {
		if x <= babbleFreezeDB {
			g.frozenMs = 0
		}
		if lvl > g.med {
			g.med += step * 0.5
		} else {
			g.med -= step * 0.5
		}
	}
	s := pow1(babbleNSSmooth, k)
	g.ns = s*g.ns + (1-s)*nonstat
	if g.active {
		g.active = g.ns > babbleNSOff
	} else {
		g.active = g.ns > babbleNSOn
	}
	th := float32(babbleOnDB)
	if g.on {
		th = babbleOffDB
	}
	g.on = x > th
	th = babbleSlowOnDB
	if g.slowOn {
		th = babbleSlowOffDB
	}
	g.slowOn = dB(g.slowPow+absFloorPow)-g.med > th
	return !g.active || g.on || g.slowOn
}

// pow1 returns a^k for the frame-length scaling of smoothing constants; k is
// 1 for 20 ms frames, so the common case costs nothing.
func pow1(a, k float32) float32 {
	if k == 1 {
		return a
	}
	return exp2(k * log2(a))
}
