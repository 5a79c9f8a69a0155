package main

import (
	"time"

	"github.com/inferflow/inferflow/gate/vad"
)

// Stand-in for the gate while package gate is not usable: the detector, a
// 220 ms hangover, and a playback barrier that holds speech frames from
// response.created until response.done plus a short tail, flushing them when
// it opens.
const (
	simHangoverMs = 220
	simTailMs     = 150
)

func simulate(c clip) (run, time.Duration, error) {
	rate := c.Mic.Rate
	det, err := vad.New(vad.Config{SampleRate: rate})
	if err != nil {
		return run{}, 0, err
	}
	fl := rate * frameMs / 1000
	n := len(c.Mic.Samples) / fl
	r := run{Speech: make([]bool, n), Admitted: make([]bool, n)}
	var (
		spent     time.Duration
		hang      int // ms of hangover left
		closed    bool
		openAt    = -1 // ms at which a done barrier opens
		held      []int
		ev        int
		farFrame  = make([]float32, fl)
		hasFarEnd = c.Far != nil
	)
	flush := func() {
		for _, i := range held {
			r.Admitted[i] = true
		}
		held = held[:0]
	}
	for i := 0; i < n; i++ {
		ms := i * frameMs
		for ev < len(c.Labels.Events) && c.Labels.Events[ev].AtMs <= ms {
			switch c.Labels.Events[ev].Type {
			case "response.created", "response.output_audio.delta":
				closed, openAt = true, -1
			case "response.done":
				openAt = c.Labels.Events[ev].AtMs + simTailMs
			}
			ev++
		}
		if closed && openAt >= 0 && ms >= openAt {
			closed, openAt = false, -1
			flush()
		}
		t0 := time.Now()
		if hasFarEnd {
			for k := range farFrame {
				j := i*fl + k
				farFrame[k] = 0
				if j < len(c.Far.Samples) {
					farFrame[k] = c.Far.Samples[j]
				}
			}
			det.FarEnd(farFrame)
		}
		d := det.Process(c.Mic.Samples[i*fl : (i+1)*fl])
		spent += time.Since(t0)
		r.Speech[i] = d.UserSpeech()
		pass := false
		if d.UserSpeech() {
			hang = simHangoverMs
			pass = true
		} else if hang > 0 {
			hang -= frameMs
			pass = true
		}
		if pass {
			if closed {
				held = append(held, i)
			} else {
				r.Admitted[i] = true
			}
		}
	}
	flush()
	return r, spent, nil
}
