package main

// Scoring as defined in the corpus README: 20 ms frames, frame i is speech
// when label frame 2i or 2i+1 (10 ms each) is 1.

const (
	frameMs    = 20
	nearMs     = 300 // "farther than 300 ms from speech"
	echoTailMs = 100 // playback window extends this far past its end
)

// run is what the gate did on one clip, per 20 ms frame.
type run struct {
	Speech   []bool // detector's user-speech decision
	Admitted []bool // frame reached the uplink (now, queued, or flushed later)
}

// counts are the pooled tallies behind the figures.
type counts struct {
	TP, FP, FN             int
	Speech, SpeechAdmitted int
	Noise, NoiseAdmitted   int
	Echo, EchoAdmitted     int
	Barge, BargeAdmitted   int
	Utterances, Missed     int
	Frames                 int
}

func (c *counts) add(o counts) {
	c.TP += o.TP
	c.FP += o.FP
	c.FN += o.FN
	c.Speech += o.Speech
	c.SpeechAdmitted += o.SpeechAdmitted
	c.Noise += o.Noise
	c.NoiseAdmitted += o.NoiseAdmitted
	c.Echo += o.Echo
	c.EchoAdmitted += o.EchoAdmitted
	c.Barge += o.Barge
	c.BargeAdmitted += o.BargeAdmitted
	c.Utterances += o.Utterances
	c.Missed += o.Missed
	c.Frames += o.Frames
}

// truth20 folds the 10 ms labels into 20 ms frames.
func truth20(l clipLabels, n int) []bool {
	per := frameMs / l.FrameMs
	if per < 1 {
		per = 1
	}
	t := make([]bool, n)
	for i := range t {
		for k := 0; k < per; k++ {
			j := i*per + k
			if j < len(l.Frames) && l.Frames[j] != 0 {
				t[i] = true
			}
		}
	}
	return t
}

// distToSpeech gives, per frame, the distance in ms to the nearest speech
// frame (a large number when there is none).
func distToSpeech(t []bool) []int {
	const far = 1 << 30
	d := make([]int, len(t))
	last := -far
	for i := range t {
		if t[i] {
			last = i
		}
		d[i] = far
		if last > -far {
			d[i] = (i - last) * frameMs
		}
	}
	last = far
	for i := len(t) - 1; i >= 0; i-- {
		if t[i] {
			last = i
		}
		if last < far && (last-i)*frameMs < d[i] {
			d[i] = (last - i) * frameMs
		}
	}
	return d
}

func inside(ms int, segs []segment, tail int) bool {
	for _, s := range segs {
		if ms >= s.StartMs && ms < s.EndMs+tail {
			return true
		}
	}
	return false
}

// score tallies one clip.
func score(l clipLabels, r run) counts {
	n := len(r.Speech)
	t := truth20(l, n)
	dist := distToSpeech(t)
	var c counts
	c.Frames = n
	for i := 0; i < n; i++ {
		ms := i * frameMs
		adm := i < len(r.Admitted) && r.Admitted[i]
		switch {
		case t[i] && r.Speech[i]:
			c.TP++
		case !t[i] && r.Speech[i]:
			c.FP++
		case t[i]:
			c.FN++
		}
		if t[i] {
			c.Speech++
			if adm {
				c.SpeechAdmitted++
			}
			if inside(ms, l.Assistant, 0) {
				c.Barge++
				if adm {
					c.BargeAdmitted++
				}
			}
		}
		if dist[i] > nearMs {
			c.Noise++
			if adm {
				c.NoiseAdmitted++
			}
			if inside(ms, l.Assistant, echoTailMs) {
				c.Echo++
				if adm {
					c.EchoAdmitted++
				}
			}
		}
	}
	for _, u := range l.Utterances {
		c.Utterances++
		hit := false
		for i := u.StartMs / frameMs; i*frameMs < u.EndMs && i < n; i++ {
			if i >= 0 && r.Speech[i] {
				hit = true
				break
			}
		}
		if !hit {
			c.Missed++
		}
	}
	return c
}

// figures is the JSON object gateeval prints.
type figures struct {
	Precision        float64 `json:"precision"`
	Recall           float64 `json:"recall"`
	F1               float64 `json:"f1"`
	AdmittedRecall   float64 `json:"admitted_recall"`
	NoiseAdmitted    float64 `json:"noise_admitted_fraction"`
	EchoAdmitted     float64 `json:"echo_admitted_fraction"`
	BargeInAdmitted  float64 `json:"barge_in_admitted_fraction"`
	MissedUtterances int     `json:"missed_utterances"`
	Utterances       int     `json:"utterances"`
	NsPerFrame       float64 `json:"ns_per_frame"`
	Clips            int     `json:"clips"`
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func (c counts) figures() figures {
	p := ratio(c.TP, c.TP+c.FP)
	r := ratio(c.TP, c.TP+c.FN)
	f := 0.0
	if p+r > 0 {
		f = 2 * p * r / (p + r)
	}
	return figures{Precision: p, Recall: r, F1: f,
		AdmittedRecall: ratio(c.SpeechAdmitted, c.Speech), NoiseAdmitted: ratio(c.NoiseAdmitted, c.Noise),
		EchoAdmitted: ratio(c.EchoAdmitted, c.Echo), BargeInAdmitted: ratio(c.BargeAdmitted, c.Barge),
		MissedUtterances: c.Missed, Utterances: c.Utterances}
}
