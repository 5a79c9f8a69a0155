// Package vad decides, frame by frame, whether a microphone frame holds the
// user's speech, and whether what it holds is only echo of the assistant's
// own playback (the far-end reference).
//
// The detector needs no model weights. Each frame is decimated to 8 kHz,
// cleared of clicks (short impulses), and split into 12 bands between 250
// and 3800 Hz by one 128-point real FFT (radix-4, the 20 ms frame windowed
// whole and folded onto 128 samples). Every band keeps a noise floor by
// minimum statistics and a slow low quantile, so stationary noise of any
// colour — white, pink, brown, mains hum — sets its own floor; speech is
// declared when the mean excess over the floor of the six bands standing
// highest above it clears a threshold (with hysteresis); once speech has
// stood 40 ms above the threshold, dips below it are bridged for up to
// 60 ms while the excess stays above 2 dB (stop closures, weak consonants,
// decaying word ends). Babble (many talkers) is recognised by a
// non-stationary floor; while it lasts, speech must also lift the wideband
// level above the babble's median, frame by frame or sustained over
// ~200 ms (babble.go).
// When a far-end reference is fed, the echo's lag is estimated by
// correlating band level changes of microphone and far end, and the far
// end's band powers around that lag, times a learnt coupling gain, predict
// the echo; speech that stays near the prediction is Echo, speech that
// stands above it for two frames or more is the user barging in.
package vad

import (
	"errors"
	"fmt"
)

// Decision is the detector's verdict on one microphone frame.
type Decision struct {
	// Speech is true when the frame holds speech (user or echo) above the
	// noise floor.
	Speech bool
	// Echo is true when the speech in the frame is explained by the far-end
	// reference, i.e. it is the assistant's own voice coming back. Always
	// false when no far-end audio has been fed.
	Echo bool
	// Score is the detector's confidence that the frame holds user speech,
	// in [0,1]; for logs and evaluation only.
	Score float32
}

// UserSpeech reports whether the frame holds speech that is not only echo.
func (d Decision) UserSpeech() bool { return d.Speech && !d.Echo }

// Config configures a Detector. Zero values take defaults.
type Config struct {
	// SampleRate of both microphone and far-end samples: 8000, 16000, 24000 or 48000.
	SampleRate int
	// OnDB is the mean band excess over the noise floor (dB) that starts
	// speech; 0 takes the default. Speech continues while the excess stays
	// above OffDB (0: default).
	OnDB, OffDB float32
	// BargeInDB is the mean band excess over the predicted echo (dB) that
	// marks user speech on top of playback; 0 takes the default.
	BargeInDB float32
	// HoldMs is how long a dip of speech below OffDB is still taken for
	// speech while the excess stays above a low bound, once speech has
	// stood 40 ms above OnDB; 0 takes the default (60 ms), a negative value turns
	// the bridge off.
	HoldMs float32
}

const (
	defaultOnDB    = 6
	defaultOffDB   = 4.5
	defaultBargeDB = 2
	bandCapDB      = 24 // one very loud band must not carry the frame alone
	absFloorPow    = 1e-9
	maxInputMs     = 60 // longest frame taken whole; longer ones keep their tail
	freezeDB       = 9  // excess at which the floor's quantile tracker pauses
	topBands       = 6  // bands whose excess makes the frame's excess
	bargeMinMs     = 30 // barge-in needs this long above the echo prediction
	defaultHoldMs  = 60 // speech dips below OffDB are bridged this long...
	holdDB         = 2  // ...while the excess stays above this...
	holdArmMs      = 40 // ...once speech has stood this long above OnDB
)

// ErrSampleRate is returned by New for an unsupported sample rate.
var ErrSampleRate = errors.New("vad: unsupported sample rate")

// Detector holds the adaptive state of one audio stream. It is not safe for
// concurrent use; the gate serialises calls per stream.
type Detector struct {
	cfg      Config
	maxIn    int
	mic, far *decimator
	spec     *spectrum
	farSpec  *spectrum
	clicks   clickSuppressor
	floor    noiseFloor
	echo     echoModel
	babble   babbleGate

	micHist, farHist [maxAnalysis]float32 // latest 8 kHz samples
	dec              []float32            // decimator output scratch
	blk              [maxAnalysis]float32
	farNew           int // far-end samples (8 kHz) since the last frame

	pow, lvl, flo, farMax [nBands]float32
	floLin                [nBands]float32 // flo as power
	speech                bool
	holdMs                float32 // bridging left after the last frame above threshold
	runMs                 float32 // time above OnDB in the current run of speech
	lastExcess, lastBarge float32
	bargeMs               float32 // how long the mic has stood above the echo prediction
	echoOnly              bool    // far end audible and the mic not confirmed above its echo
}

// New returns a detector for one stream.
func New(cfg Config) (*Detector, error) {
	switch cfg.SampleRate {
	case 8000, 16000, 24000, 48000:
	default:
		return nil, fmt.Errorf("%w: %d Hz", ErrSampleRate, cfg.SampleRate)
	}
	if cfg.OnDB == 0 {
		cfg.OnDB = defaultOnDB
	}
	if cfg.OffDB == 0 {
		cfg.OffDB = defaultOffDB
	}
	if cfg.BargeInDB == 0 {
		cfg.BargeInDB = defaultBargeDB
	}
	if cfg.HoldMs == 0 {
		cfg.HoldMs = defaultHoldMs
	}
	m := cfg.SampleRate / internalRate
	maxIn := cfg.SampleRate * maxInputMs / 1000
	d := &Detector{cfg: cfg, maxIn: maxIn, mic: newDecimator(m), far: newDecimator(m),
		spec: newSpectrum(fftSize), farSpec: newSpectrum(farFFTSize), dec: make([]float32, 0, maxIn/m+2)}
	d.Reset()
	return d, nil
}

// feed decimates in and slides the result into hist; it returns how many
// 8 kHz samples arrived.
func (d *Detector) feed(dc *decimator, hist *[maxAnalysis]float32, in []float32) int {
	if len(in) > d.maxIn {
		in = in[len(in)-d.maxIn:]
	}
	out := dc.process(in, d.dec[:0])
	n := len(out)
	if n >= maxAnalysis {
		copy(hist[:], out[n-maxAnalysis:])
	} else if n > 0 {
		copy(hist[:], hist[n:])
		copy(hist[maxAnalysis-n:], out)
	}
	return n
}

// FarEnd feeds far-end reference samples (what the assistant plays), in
// playback order, on the same timeline as the microphone frames. It does not
// allocate.
func (d *Detector) FarEnd(samples []float32) {
	if len(samples) == 0 {
		return
	}
	d.echo.seen = true
	d.farNew += d.feed(d.far, &d.farHist, samples)
}

// Process classifies one microphone frame of 10 to 30 ms, samples in [-1, 1].
// It does not allocate. An empty frame yields a zero Decision and leaves the
// state alone.
func (d *Detector) Process(mic []float32) Decision {
	if len(mic) == 0 {
		return Decision{}
	}
	frameMs := float32(len(mic)) * 1000 / float32(d.cfg.SampleRate)
	n := d.feed(d.mic, &d.micHist, mic)
	L := clampInt(n, minAnalysis, maxAnalysis)
	copy(d.blk[:L], d.micHist[maxAnalysis-L:])
	d.clicks.apply(d.blk[:L])
	d.spec.bands(d.blk[:L], &d.pow)
	for b := 0; b < nBands; b++ {
		d.lvl[b] = dB(d.pow[b] + absFloorPow)
	}
	d.floor.update(&d.lvl, frameMs, d.lastExcess > freezeDB, &d.flo)
	for b := 0; b < nBands; b++ {
		d.floLin[b] = dbToPow(d.flo[b])
	}

	excess := d.topExcess()
	d.lastExcess = excess
	th := d.cfg.OnDB
	if d.speech {
		th = d.cfg.OffDB
	}
	babbleOK := d.babble.update(&d.pow, &d.floLin, d.floor.nonstat, frameMs)
	speech := excess > th && babbleOK
	if speech {
		// A lone frame over the threshold may be a noise peak (and the
		// hysteresis may carry it a frame further): the bridge is armed
		// only once this run of speech has had holdArmMs above OnDB.
		if excess > d.cfg.OnDB {
			d.runMs += frameMs
		}
		if d.runMs >= holdArmMs {
			d.holdMs = d.cfg.HoldMs
		}
	} else if d.speech && d.holdMs > 0 && excess > holdDB && babbleOK {
		// Inside speech, a frame or two that dips below OffDB (a stop
		// closure, a weak unvoiced sound, a word's decaying tail) but
		// still stands above the floor is taken for speech: noise alone
		// seldom stays above holdDB right after speech.
		d.holdMs -= frameMs
		speech = true
	} else {
		d.runMs, d.holdMs = 0, 0
	}
	d.speech = speech

	echo := false
	d.echoOnly = false
	if d.echo.seen {
		echo = d.echoStep(frameMs)
	}
	score := clamp(excess/(2*d.cfg.OnDB), 0, 1)
	if echo {
		score = 0
	}
	return Decision{Speech: d.speech, Echo: echo, Score: score}
}

// topExcess is the mean excess over the floor of the topBands bands that
// stand highest above it. Speech puts its energy in a few formant bands; in
// white or pink noise the others sit at the floor, and a mean over all bands
// would dilute the evidence.
func (d *Detector) topExcess() float32 {
	var ex [nBands]float32
	for b := 0; b < nBands; b++ {
		ex[b] = d.lvl[b] - d.flo[b]
	}
	return topMean(&ex)
}

// topMean is the mean of the topBands largest of x, each clamped to
// [0, bandCapDB].
func topMean(x *[nBands]float32) float32 {
	var top [topBands]float32 // descending
	for b := 0; b < nBands; b++ {
		e := clamp(x[b], 0, bandCapDB)
		if e <= top[topBands-1] {
			continue
		}
		j := topBands - 1
		for j > 0 && top[j-1] < e {
			top[j] = top[j-1]
			j--
		}
		top[j] = e
	}
	var s float32
	for _, e := range top {
		s += e
	}
	return s / topBands
}

// echoStep records this frame's far-end spectrum and decides whether the
// microphone's speech is explained by it.
func (d *Detector) echoStep(frameMs float32) bool {
	if d.farNew > 0 {
		L := clampInt(d.farNew, minAnalysis, maxAnalysis)
		d.farNew = 0
		blk := d.farHist[maxAnalysis-L:]
		var e float32
		for _, v := range blk {
			e += v * v
		}
		if e/float32(L) > farActivePow {
			d.farSpec.bands(blk, &d.pow)
			d.echo.push(&d.pow)
		} else {
			d.echo.push(nil)
		}
	} else {
		d.echo.push(nil)
	}
	d.echo.estimateLag(&d.lvl)
	lo, hi := 0, int(echoMaxLagMs/frameMs+0.999)
	if d.echo.lagOK && frameMs > 15 && frameMs < 25 {
		// Once the delay is known, predict from the frames around it only:
		// the max over the whole lag window over-predicts the echo.
		lo, hi = d.echo.lag-echoLead, d.echo.lag+echoSpan
		if lo < 0 {
			lo = 0
		}
	}
	if !d.echo.maxOver(lo, hi, &d.farMax) {
		return false
	}
	// Excess of the microphone over predicted echo plus noise, per band.
	var over [nBands]float32
	for b := 0; b < nBands; b++ {
		pred := d.farMax[b]*dbToPow(d.echo.gainDB[b]) + d.floLin[b]
		over[b] = d.lvl[b] - dB(pred)
	}
	barge := topMean(&over)
	d.lastBarge = barge
	// Learn the coupling from frames that are not clearly barge-in: each
	// band's mic/far ratio, where both are well above their floors.
	if barge < echoLearnBelow*d.cfg.BargeInDB {
		for b := 0; b < nBands; b++ {
			fm := dB(d.farMax[b] + absFloorPow)
			if fm < -60 || d.lvl[b] < d.flo[b]+6 {
				continue
			}
			r := d.lvl[b] - fm
			if r > d.echo.gainDB[b] {
				d.echo.gainDB[b] += echoStepDB * echoQuantile
			} else {
				d.echo.gainDB[b] -= echoStepDB * (1 - echoQuantile)
			}
			d.echo.gainDB[b] = clamp(d.echo.gainDB[b], echoMinGainDB, echoMaxGainDB)
		}
	}
	// A single frame above the prediction is a click or a burst the
	// prediction missed; the user's voice stays above it longer.
	if barge >= d.cfg.BargeInDB {
		d.bargeMs += frameMs
	} else {
		d.bargeMs = 0
	}
	d.echoOnly = d.bargeMs < bargeMinMs
	return d.speech && d.echoOnly
}

// Stats are the detector's internal measures for the last frame, for
// logging and tuning.
type Stats struct {
	ExcessDB     float32 // mean band level over the noise floor
	EchoExcessDB float32 // mean band level over predicted echo plus noise (0 without far end)
	// Babble measures: the wideband level over the babble median (dB), the
	// floor's non-stationarity (dB) and whether the background is taken for
	// babble.
	BabbleExcessDB, NonStationarityDB float32
	Babble                            bool
	// EchoOnly is true when the far end is audible and the microphone has
	// not stood above the predicted echo long enough for barge-in: speech
	// in this frame is taken for echo.
	EchoOnly bool
	// EchoLag is the estimated echo lag in frames (-1: not known yet).
	EchoLag int
	// LevelDB and FloorDB are the frame's band levels and the bands' noise
	// floors (dB), low band first.
	LevelDB, FloorDB [NumBands]float32
}

// NumBands is the number of analysis bands in Stats.
const NumBands = nBands

// Stats returns the measures behind the last decision.
func (d *Detector) Stats() Stats {
	return Stats{ExcessDB: d.lastExcess, EchoExcessDB: d.lastBarge, BabbleExcessDB: d.babble.excess, NonStationarityDB: d.babble.ns, Babble: d.babble.active, EchoOnly: d.echoOnly, EchoLag: d.echoLag(), LevelDB: d.lvl, FloorDB: d.flo}
}

func (d *Detector) echoLag() int {
	if !d.echo.lagOK {
		return -1
	}
	return d.echo.lag
}

// Reset forgets all adaptive state.
func (d *Detector) Reset() {
	d.mic.reset()
	d.far.reset()
	d.floor.reset()
	d.echo.reset()
	d.babble.reset()
	d.micHist = [maxAnalysis]float32{}
	d.farHist = [maxAnalysis]float32{}
	d.farNew = 0
	d.speech = false
	d.holdMs, d.runMs = 0, 0
	d.lastExcess, d.lastBarge = 0, 0
	d.bargeMs = 0
}

func clampInt(x, lo, hi int) int {
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}
