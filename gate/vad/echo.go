package vad

// Echo model. The assistant's playback reaches the microphone through a short
// acoustic path (tens of ms, a few reflections, attenuated). Rather than an
// adaptive filter on samples, the detector predicts the echo's band powers:
// the largest far-end band power around the estimated lag (over the whole
// plausible lag window until the lag is known) times a per-band coupling
// gain learnt online. A microphone frame whose band levels
// stay near that prediction is echo; one that stands well above it in
// several bands carries the user's own voice too (barge-in).

const (
	echoHistLen    = 16   // far-end frames remembered (≥ max lag window)
	echoMaxLagMs   = 120  // direct path plus reflections
	echoInitGainDB = -6   // conservative start: assume loud coupling
	echoMinGainDB  = -30  // coupling never assumed below this
	echoMaxGainDB  = 0    //
	echoQuantile   = 0.85 // coupling tracks this quantile of mic/far ratios
	echoStepDB     = 0.25 // quantile tracker step
	// Only frames whose excess over the prediction is below this share of
	// BargeInDB teach the coupling, so barge-in does not raise it.
	echoLearnBelow = 0.5
	// Delay estimation (see estimateLag).
	echoLags     = 7    // lags 0..6 frames (0..120 ms at 20 ms)
	echoCorrRate = 0.03 // per frame with far-end activity
	echoFluxCap  = 12   // dB: a band's level change counts at most this much
	echoPeakGain = 1.5  // best lag must beat the mean positive correlation by this factor
	echoSpan     = 1    // frames after the estimated lag that the prediction also takes
	echoLead     = 1    // and before it: a delay near a frame boundary makes the lag flip
	farActivePow = 1e-7 // far-end band power (-70 dB) that counts as playing
)

type echoModel struct {
	hist   [echoHistLen][nBands]float32 // far-end band power, linear
	flux   [echoHistLen][nBands]float32 // far-end band level change, dB
	loud   [echoHistLen]bool            // frame had audible far end
	pos    int                          // next write slot
	gainDB [nBands]float32
	seen   bool

	// Delay estimate: per lag (frames), the running correlation of the
	// microphone's band level changes with the far end's.
	corr      [echoLags]float32
	lastFarDB [nBands]float32
	lastMicDB [nBands]float32
	lag       int  // estimated lag of the echo's onset, frames
	lagOK     bool // corr has a clear peak
}

func (e *echoModel) reset() {
	*e = echoModel{}
	for b := range e.gainDB {
		e.gainDB[b] = echoInitGainDB
	}
}

// push records one frame of far-end band powers (nil: silence).
func (e *echoModel) push(p *[nBands]float32) {
	slot := &e.hist[e.pos]
	loud := false
	if p == nil {
		*slot = [nBands]float32{}
	} else {
		*slot = *p
		for b := 0; b < nBands; b++ {
			if p[b] > farActivePow {
				loud = true
				break
			}
		}
	}
	// Band level change since the previous far-end frame, for the delay
	// estimate; computed once per far-end frame.
	fl := &e.flux[e.pos]
	for b := 0; b < nBands; b++ {
		l := float32(-100)
		if p != nil {
			l = dB(p[b] + absFloorPow)
		}
		fl[b] = clamp(l-e.lastFarDB[b], -echoFluxCap, echoFluxCap)
		e.lastFarDB[b] = l
	}
	e.loud[e.pos] = loud
	e.pos = (e.pos + 1) % echoHistLen
}

// estimateLag folds one microphone frame (band levels in dB) into the delay
// correlation. The level changes of mic and far end line up at the echo's
// lag whatever the coupling gain and the stationary noise; the user's own
// voice is uncorrelated with the far end and averages out.
func (e *echoModel) estimateLag(lvl *[nBands]float32) {
	var dm [nBands]float32
	for b := 0; b < nBands; b++ {
		dm[b] = clamp(lvl[b]-e.lastMicDB[b], -echoFluxCap, echoFluxCap)
		e.lastMicDB[b] = lvl[b]
	}
	active := false
	for k := 0; k < echoLags; k++ {
		if e.loud[(e.pos-1-k+2*echoHistLen)%echoHistLen] {
			active = true
			break
		}
	}
	if !active {
		return
	}
	best, bestK := float32(0), -1
	var pos float32
	for k := 0; k < echoLags; k++ {
		f := &e.flux[(e.pos-1-k+2*echoHistLen)%echoHistLen]
		var c float32
		for b := 0; b < nBands; b++ {
			c += dm[b] * f[b]
		}
		e.corr[k] += echoCorrRate * (c - e.corr[k])
		if e.corr[k] > best {
			best, bestK = e.corr[k], k
		}
		if e.corr[k] > 0 {
			pos += e.corr[k]
		}
	}
	e.lagOK = bestK >= 0 && best*echoLags > echoPeakGain*pos
	if e.lagOK {
		e.lag = bestK
	}
}

// maxOver writes the largest far-end power per band over the lags
// lo..hi frames back (0 = the frame pushed last) and reports whether any of
// those frames was audible.
func (e *echoModel) maxOver(lo, hi int, out *[nBands]float32) bool {
	*out = [nBands]float32{}
	active := false
	if hi >= echoHistLen {
		hi = echoHistLen - 1
	}
	for k := lo; k <= hi; k++ {
		i := (e.pos - 1 - k + 2*echoHistLen) % echoHistLen
		if !e.loud[i] {
			continue
		}
		active = true
		h := &e.hist[i]
		for b := 0; b < nBands; b++ {
			if h[b] > out[b] {
				out[b] = h[b]
			}
		}
	}
	return active
}
