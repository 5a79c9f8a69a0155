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

type noiseFloor struct {
	started bool
	sm      [nBands]float32 // smoothed level, dB
	cur     [nBands]float32 // minimum in the current sub-window
	subs    [floorSubWins][nBands]float32
	ringMin [nBands]float32 // minimum over subs
	subMs   float32
	next    int
}

func (f *noiseFloor) reset() { *f = noiseFloor{} }

// update folds one frame's band levels (dB) into the tracker and writes the
// current floor (dB) to out.
func (f *noiseFloor) update(p *[nBands]float32, frameMs float32, out *[nBands]float32) {
	if !f.started {
		f.started = true
		f.sm = *p
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
	for b := 0; b < nBands; b++ {
		m := f.ringMin[b]
		if f.cur[b] < m {
			m = f.cur[b]
		}
		out[b] = m
	}
}
