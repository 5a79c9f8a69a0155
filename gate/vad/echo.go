package vad

// Echo model. The assistant's playback reaches the microphone through a short
// acoustic path (tens of ms, a few reflections, attenuated). Rather than an
// adaptive filter on samples, the detector predicts the echo's band powers:
// the largest far-end band power within the plausible lag window times a
// per-band coupling gain learnt online. A microphone frame whose band levels
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
	farActivePow   = 1e-7 // far-end band power (-70 dB) that counts as playing
)

type echoModel struct {
	hist   [echoHistLen][nBands]float32 // far-end band power, linear
	loud   [echoHistLen]bool            // frame had audible far end
	pos    int                          // next write slot
	gainDB [nBands]float32
	seen   bool
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
	e.loud[e.pos] = loud
	e.pos = (e.pos + 1) % echoHistLen
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
