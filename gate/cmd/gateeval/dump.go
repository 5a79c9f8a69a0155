package main

import (
	"bufio"
	"fmt"
	"io"

	"github.com/inferflow/inferflow/gate/vad"
)

// dumpClip writes, per 20 ms frame, the label and the detector's measures
// including band levels and floors as whitespace-separated columns: input
// for offline analysis of decision rules (-dump FILE).
func dumpClip(c clip, w io.Writer) error {
	det, err := vad.New(vad.Config{SampleRate: c.Mic.Rate})
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	fl := c.Mic.Rate * frameMs / 1000
	n := len(c.Mic.Samples) / fl
	t := truth20(c.Labels, n)
	dist := distToSpeech(t)
	far := make([]float32, fl)
	for i := 0; i < n; i++ {
		if c.Far != nil {
			for k := range far {
				far[k] = 0
				if j := i*fl + k; j < len(c.Far.Samples) {
					far[k] = c.Far.Samples[j]
				}
			}
			det.FarEnd(far)
		}
		d := det.Process(c.Mic.Samples[i*fl : (i+1)*fl])
		s := det.Stats()
		b2i := func(b bool) int {
			if b {
				return 1
			}
			return 0
		}
		pb := b2i(inside(i*frameMs, c.Labels.Assistant, 0))
		pbt := b2i(inside(i*frameMs, c.Labels.Assistant, echoTailMs))
		fmt.Fprintf(bw, "%s %s %s %d %d %d %d %d %d %d %.2f %.2f %.2f %.2f %d %d", c.Labels.Clip, c.Labels.Noise, c.Labels.snrName(), i,
			b2i(t[i]), min(dist[i], 100000), pb, pbt, b2i(d.Speech), b2i(s.EchoOnly), s.ExcessDB, s.EchoExcessDB, s.BabbleExcessDB, s.NonStationarityDB, b2i(s.Babble), s.EchoLag)
		for b := 0; b < vad.NumBands; b++ {
			fmt.Fprintf(bw, " %.2f", s.LevelDB[b])
		}
		for b := 0; b < vad.NumBands; b++ {
			fmt.Fprintf(bw, " %.2f", s.FloorDB[b])
		}
		fmt.Fprintln(bw)
	}
	return nil
}
