package vad

// noiseFloor tracks each band's noise level by minimum statistics: the
// minimum of the lightly smoothed band level over the last ~1.6 s, taken over
// sub-windows so the window slides without storing every frame. Speech, even
// a long utterance, has gaps between syllables, so the minimum follows the
// noise and not the voice; a steady noise (hum, fan, white) becomes the floor
// within one window.
const (
	floorSubMs   = 200 // sub-window length
	floorSubWins = 8   // sub-windows remembered
	floorSmooth  = 0.6 // weight of the previous smoothed level
)

// Babble (many talkers) is not stationary: its minimum sits well below its
// typical level, so against the minimum alone babble looks like speech. A
// slow low-quantile tracker per band follows the noise's typical level
// instead; the floor is the higher of the two. It adapts slowly and pauses
// while the frame is clearly speech, so a long utterance does not raise it.
const (
	floorQuantile = 0.3  // share of frames below the tracked level
	floorQStepDB  = 0.15 // tracker step per 20 ms frame
	// floorMaxHoldMs is the longest the tracker pauses for speech.
	floorMaxHoldMs = 3000
)

type noiseFloor struct {
	q        [nBands]float32 // low-quantile tracker, dB
	started  bool
	sm       [nBands]float32 // smoothed level, dB
	cur      [nBands]float32 // minimum in the current sub-window
	subs     [floorSubWins][nBands]float32
	ringMin  [nBands]float32 // minimum over subs
	subMs    float32
	next     int
	nonstat  float32
	frozenMs float32
}

func (f *noiseFloor) reset() { *f = noiseFloor{} }

// update folds one frame's band levels (dB) into the tracker and writes the
// current floor (dB) to out.
func (f *noiseFloor) update(p *[nBands]float32, frameMs float32, freeze bool, out *[nBands]float32) {
	if !f.started {
		f.started = true
		f.sm = *p
		f.q = *p
		for b := range f.cur {
			f.cur[b] = p[b]
			f.ringMin[b] = p[b]
		}
		for i := range f.subs {
			f.subs[i] = *p
		}
	}
	for b := 0; b < nBands; b++ {
		s := floorSmooth*f.sm[b] + (1-floorSmooth)*p[b]
		f.sm[b] = s
		if s < f.cur[b] {
			f.cur[b] = s
		}
	}
	f.subMs += frameMs
	if f.subMs >= floorSubMs {
		f.subMs = 0
		f.subs[f.next] = f.cur
		f.next = (f.next + 1) % floorSubWins
		for b := 0; b < nBands; b++ {
			m := f.subs[0][b]
			for i := 1; i < floorSubWins; i++ {
				if f.subs[i][b] < m {
					m = f.subs[i][b]
				}
			}
			f.ringMin[b] = m
			f.cur[b] = 1e9
		}
	}
	step := floorQStepDB * frameMs / 20
	// A pause longer than floorMaxHoldMs is no pause: whatever keeps the
	// excess up for that long is background (babble), so track it.
	if freeze {
		f.frozenMs += frameMs
		if f.frozenMs > floorMaxHoldMs {
			freeze = false
		}
	} else {
		f.frozenMs = 0
	}
	var ns float32
	for b := 0; b < nBands; b++ {
		m := f.ringMin[b]
		if f.cur[b] < m {
			m = f.cur[b]
		}
		rm := m
		if !freeze {
			if p[b] > f.q[b] {
				f.q[b] += step * floorQuantile
			} else {
				f.q[b] -= step * (1 - floorQuantile)
			}
		}
		if f.q[b] < m {
			f.q[b] = m
		}
		if f.q[b] > m {
			m = f.q[b]
		}
		out[b] = m
		ns += f.q[b] - rm
	}
	f.nonstat = ns / float32(nBands)
}
