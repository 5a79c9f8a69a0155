package main

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/inferflow/inferflow/gate"
)

// frameTrace is what the gate did with one 20 ms microphone frame.
type frameTrace struct {
	LevelDB   float64 // frame RMS, dBFS
	Speech    bool    // detector: user speech (not echo)
	Echo      bool    // detector: echo of the assistant
	Action    gate.Action
	Reason    gate.Reason
	Delivered bool // reached the uplink, at once or after a hold
	Barrier   bool // playback barrier closed after the frame
}

// gateTrace replays c through the gate and returns each frame's story.
func gateTrace(c clip) ([]frameTrace, run, error) {
	fl := c.Mic.Rate * frameMs / 1000
	var tr []frameTrace
	r, _, err := replayGateObserved(c, func(i int, out gate.Outcome, snap gate.Snapshot) {
		var sum float64
		for _, v := range c.Mic.Samples[i*fl : (i+1)*fl] {
			sum += float64(v) * float64(v)
		}
		tr = append(tr, frameTrace{
			LevelDB: 10 * math.Log10(sum/float64(fl)+1e-10),
			Speech:  out.UserSpeech(), Echo: out.Echo, Action: out.Action, Reason: out.Reason,
			Barrier: snap.Barrier.Closed,
		})
	})
	if err != nil {
		return nil, run{}, err
	}
	for i := range tr {
		tr[i].Delivered = i < len(r.Admitted) && r.Admitted[i]
	}
	return tr, r, nil
}

// plotCorpus writes one SVG per clip into dir.
func plotCorpus(clips []clip, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range clips {
		tr, _, err := gateTrace(c)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Labels.Clip, err)
		}
		path := filepath.Join(dir, filepath.Base(c.Labels.Clip)+".svg")
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(f)
		err = writePlot(w, c.Labels, tr)
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

// Plot geometry: one pixel per 20 ms frame, a label column on the left.
const (
	plotLeft  = 150
	plotRowH  = 22
	plotGap   = 6
	plotTop   = 44
	levelRowH = 60
)

// Colours as on the voice page (internal/voicepage), with contrast on white.
var plotColors = map[string]string{
	"speech": "#111418", "admitted": "#1b7f3b", "queued": "#5fae74", "held": "#b86e00",
	"dropped": "#c5cad3", "echo": "#7b3fb8", "rejected": "#000000", "play": "#0b57d0",
	"barrier": "#d9463b", "missed": "#8a1111", "false": "#b86e00", "text": "#4a5260",
}

// decisionKind names the colour of a frame's decision.
func decisionKind(t frameTrace) string {
	switch {
	case t.Action == gate.Dropped && (t.Reason == gate.ReasonEcho || t.Reason == gate.ReasonEchoPreRoll):
		return "echo"
	case t.Action == gate.Held:
		return "held"
	case t.Action == gate.Admitted:
		return "admitted"
	case t.Action == gate.Queued:
		return "queued"
	case t.Action == gate.Rejected:
		return "rejected"
	default:
		return "dropped"
	}
}

// writePlot draws one clip: the microphone level, the labelled speech (with
// its words), the detector's speech and echo decisions, what the gate did
// with each frame, what reached the model, the assistant's playback, the
// barrier, and the errors (speech not sent, noise sent).
func writePlot(w io.Writer, l clipLabels, tr []frameTrace) error {
	n := len(tr)
	truth := truth20(l, n)
	dist := distToSpeech(truth)
	rows := []string{"labelled speech", "detector speech", "detector echo", "gate decision", "reached the model",
		"assistant playback", "barrier closed", "errors"}
	width := plotLeft + n + 20
	height := plotTop + levelRowH + plotGap + len(rows)*(plotRowH+plotGap) + 70
	p := &svgWriter{w: w}
	p.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="system-ui, sans-serif" font-size="12">`+"\n", width, height, width, height)
	snr := "clean"
	if l.SNRdB != nil {
		snr = fmt.Sprintf("SNR %g dB", *l.SNRdB)
	}
	p.printf(`<title>%s: the gate's decisions per 20 ms frame</title>`+"\n", html.EscapeString(l.Clip))
	p.printf(`<rect width="100%%" height="100%%" fill="#fff"/>` + "\n")
	p.printf(`<text x="8" y="20" font-size="15" font-weight="600">%s — noise %s, %s, %.1f s</text>`+"\n",
		html.EscapeString(l.Clip), html.EscapeString(l.Noise), snr, float64(n*frameMs)/1000)

	// Microphone level, -70..0 dBFS.
	y := plotTop
	p.label(y+levelRowH/2, "mic level (dBFS)")
	p.printf(`<rect x="%d" y="%d" width="%d" height="%d" fill="#f6f7f9"/>`+"\n", plotLeft, y, n, levelRowH)
	p.printf(`<path fill="%s" d="`, plotColors["speech"])
	for i, t := range tr {
		h := int(math.Round(math.Max(0, math.Min(1, (t.LevelDB+70)/70)) * levelRowH))
		if h > 0 {
			p.printf("M%d %dh1v%dh-1z", plotLeft+i, y+levelRowH-h, h)
		}
	}
	p.printf(`"/>` + "\n")
	y += levelRowH + plotGap

	lanes := []func(i int) string{
		func(i int) string { return pick(truth[i], "speech") },
		func(i int) string { return pick(tr[i].Speech, "speech") },
		func(i int) string { return pick(tr[i].Echo, "echo") },
		func(i int) string { return decisionKind(tr[i]) },
		func(i int) string { return pick(tr[i].Delivered, "admitted") },
		func(i int) string { return pick(inside(i*frameMs, l.Assistant, 0), "play") },
		func(i int) string { return pick(tr[i].Barrier, "barrier") },
		func(i int) string {
			switch {
			case truth[i] && !tr[i].Delivered:
				return "missed"
			case !truth[i] && tr[i].Delivered && dist[i] > nearMs:
				return "false"
			}
			return ""
		},
	}
	for k, lane := range lanes {
		p.label(y+plotRowH/2, rows[k])
		p.printf(`<rect x="%d" y="%d" width="%d" height="%d" fill="#f6f7f9"/>`+"\n", plotLeft, y, n, plotRowH)
		p.runs(n, y, plotRowH, lane)
		if k == 0 {
			for _, u := range l.Utterances {
				if u.Text == "" {
					continue
				}
				label := []rune(u.Text)
				if u.BargeIn {
					label = append([]rune("barge-in: "), label...)
				}
				// About 6 px a character at 10 px: keep to the utterance's width.
				if fit := (u.EndMs - u.StartMs) / frameMs / 6; len(label) > fit {
					if fit < 2 {
						continue
					}
					label = append(label[:fit-1], '…')
				}
				p.printf(`<text x="%d" y="%d" font-size="10" fill="%s">%s</text>`+"\n",
					plotLeft+u.StartMs/frameMs, y-1, plotColors["text"], html.EscapeString(string(label)))
			}
		}
		y += plotRowH + plotGap
	}

	// Time axis: a tick per second.
	for s := 0; s*1000/frameMs <= n; s++ {
		x := plotLeft + s*1000/frameMs
		p.printf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#c9ced6"/>`, x, plotTop, x, y-plotGap)
		if s%2 == 0 {
			p.printf(`<text x="%d" y="%d" text-anchor="middle" fill="%s">%d s</text>`, x, y+8, plotColors["text"], s)
		}
		p.printf("\n")
	}
	// Legend.
	x, ly := 8, y+34
	for _, e := range []struct{ kind, name string }{
		{"admitted", "admitted"}, {"queued", "queued"}, {"held", "held (barrier)"}, {"dropped", "dropped"},
		{"echo", "echo"}, {"play", "assistant playback"}, {"barrier", "barrier closed"},
		{"missed", "speech not sent"}, {"false", "noise sent"},
	} {
		p.printf(`<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			x, ly-10, plotColors[e.kind], x+16, ly, html.EscapeString(e.name))
		x += 24 + 7*len(e.name)
	}
	p.printf("</svg>\n")
	return p.err
}

func pick(on bool, kind string) string {
	if on {
		return kind
	}
	return ""
}

// svgWriter keeps the first write error.
type svgWriter struct {
	w   io.Writer
	err error
}

func (p *svgWriter) printf(format string, a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, a...)
	}
}

func (p *svgWriter) label(yMid int, text string) {
	p.printf(`<text x="%d" y="%d" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", plotLeft-8, yMid, html.EscapeString(text))
}

// runs draws each stretch of equal, non-empty kind as one rectangle.
func (p *svgWriter) runs(n, y, h int, kind func(i int) string) {
	for i := 0; i < n; {
		k := kind(i)
		j := i + 1
		for j < n && kind(j) == k {
			j++
		}
		if k != "" {
			p.printf(`<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", plotLeft+i, y, j-i, h, plotColors[k])
		}
		i = j
	}
}
