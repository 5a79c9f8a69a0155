package main

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The plot of the synthetic clip is well-formed SVG, names every row, and
// shows the voiced second as admitted and the silence around it as dropped.
func TestPlotSyntheticClip(t *testing.T) {
	dir := t.TempDir()
	writeClip(t, dir)
	clips, err := loadCorpus(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "plots")
	if err := plotCorpus(clips, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "clip000.svg"))
	if err != nil {
		t.Fatal(err)
	}
	svg := string(b)
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
	}
	for _, want := range []string{"labelled speech", "gate decision", "reached the model", "assistant playback", "barrier closed", "errors", "clip000"} {
		if !strings.Contains(svg, want) {
			t.Errorf("plot lacks %q", want)
		}
	}
	tr, _, err := gateTrace(clips[0])
	if err != nil {
		t.Fatal(err)
	}
	// 4 s at 20 ms; speech 1..2 s = frames 50..99.
	if len(tr) != 200 {
		t.Fatalf("%d frames traced, want 200", len(tr))
	}
	admitted := 0
	for i := 55; i < 95; i++ {
		if tr[i].Delivered {
			admitted++
		}
	}
	if admitted < 36 {
		t.Errorf("%d of the 40 voiced frames reached the model", admitted)
	}
	for _, i := range []int{5, 20, 180, 195} {
		if k := decisionKind(tr[i]); k != "dropped" || tr[i].Delivered {
			t.Errorf("silent frame %d: %s, delivered %v", i, k, tr[i].Delivered)
		}
	}
}
