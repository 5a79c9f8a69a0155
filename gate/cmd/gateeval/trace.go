package main

import (
	"fmt"
	"io"

	"github.com/inferflow/inferflow/gate/vad"
)

// traceClip prints, per 20 ms frame, the label and the detector's measures:
// a tuning aid (-trace clipNNN).
func traceClip(c clip, w io.Writer) error {
	det, err := vad.New(vad.Config{SampleRate: c.Mic.Rate})
	if err != nil {
		return err
	}
	fl := c.Mic.Rate * frameMs / 1000
	n := len(c.Mic.Samples) / fl
	t := truth20(c.Labels, n)
	for i := 0; i < n; i++ {
		if c.Far != nil {
			lo, hi := i*fl, (i+1)*fl
			if hi <= len(c.Far.Samples) {
				det.FarEnd(c.Far.Samples[lo:hi])
			}
		}
		d := det.Process(c.Mic.Samples[i*fl : (i+1)*fl])
		s := det.Stats()
		lab := 0
		if t[i] {
			lab = 1
		}
		pb := " "
		if inside(i*frameMs, c.Labels.Assistant, 0) {
			pb = "P"
		}
		bab := " "
		if s.Babble {
			bab = "B"
		}
		fmt.Fprintf(w, "%6d %d%s sp=%v echo=%v ex=%5.1f eex=%5.1f bx=%5.1f ns=%4.1f%s lag=%d\n", i*frameMs, lab, pb, d.Speech, d.Echo,
			s.ExcessDB, s.EchoExcessDB, s.BabbleExcessDB, s.NonStationarityDB, bab, s.EchoLag)
	}
	return nil
}
