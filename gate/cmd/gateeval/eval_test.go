package main

import (
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestWAVRoundTrip(t *testing.T) {
	x := []float32{0, 0.5, -0.5, 1, -1}
	w, err := parseWAV(encodeWAV16(16000, x))
	if err != nil {
		t.Fatal(err)
	}
	if w.Rate != 16000 || len(w.Samples) != len(x) {
		t.Fatalf("got rate %d, %d samples", w.Rate, len(w.Samples))
	}
	for i := range x {
		if math.Abs(float64(w.Samples[i]-x[i])) > 1e-3 {
			t.Errorf("sample %d: %v want %v", i, w.Samples[i], x[i])
		}
	}
	for _, bad := range [][]byte{nil, []byte("RIFF"), []byte("RIFF\x00\x00\x00\x00WAVEjunk")} {
		if _, err := parseWAV(bad); err == nil {
			t.Errorf("parseWAV(%q) succeeded", bad)
		}
	}
}

func TestScore(t *testing.T) {
	// 10 frames of 20 ms; speech in label frames 4..9 (10 ms) = 20 ms frames 2..4.
	l := clipLabels{FrameMs: 10, Frames: make([]int, 40),
		Utterances: []segment{{StartMs: 40, EndMs: 100}, {StartMs: 600, EndMs: 700}},
		Assistant:  []segment{{StartMs: 0, EndMs: 80}}}
	for i := 4; i < 10; i++ {
		l.Frames[i] = 1
	}
	r := run{Speech: make([]bool, 40), Admitted: make([]bool, 40)}
	r.Speech[2], r.Speech[3], r.Speech[30] = true, true, true
	r.Admitted[2], r.Admitted[3], r.Admitted[4], r.Admitted[30] = true, true, true, true
	c := score(l, r)
	if c.TP != 2 || c.FP != 1 || c.FN != 1 {
		t.Errorf("tp/fp/fn = %d/%d/%d, want 2/1/1", c.TP, c.FP, c.FN)
	}
	if c.Speech != 3 || c.SpeechAdmitted != 3 {
		t.Errorf("speech admitted %d/%d, want 3/3", c.SpeechAdmitted, c.Speech)
	}
	// noise frames: farther than 300 ms (15 frames) from frames 2..4 → 20..39
	if c.Noise != 20 || c.NoiseAdmitted != 1 {
		t.Errorf("noise admitted %d/%d, want 1/20", c.NoiseAdmitted, c.Noise)
	}
	// barge-in: speech frames inside playback 0..80 ms → frames 2, 3
	if c.Barge != 2 || c.BargeAdmitted != 2 {
		t.Errorf("barge admitted %d/%d, want 2/2", c.BargeAdmitted, c.Barge)
	}
	if c.Echo != 0 {
		t.Errorf("echo frames %d, want 0 (all near speech)", c.Echo)
	}
	if c.Utterances != 2 || c.Missed != 0 {
		t.Errorf("missed %d/%d, want 0/2", c.Missed, c.Utterances)
	}
	f := c.figures()
	if math.Abs(f.Precision-2.0/3) > 1e-9 || math.Abs(f.Recall-2.0/3) > 1e-9 {
		t.Errorf("precision/recall %v/%v", f.Precision, f.Recall)
	}
}

// writeClip builds a 4 s clip: silence, a 1 s voiced burst, silence, with
// labels, in dir.
func writeClip(t *testing.T, dir string) {
	rate := 16000
	x := make([]float32, 4*rate)
	for i := rate; i < 2*rate; i++ {
		ph := 2 * math.Pi * float64(i) / float64(rate)
		x[i] = float32(0.2 * (math.Sin(150*ph) + 0.6*math.Sin(300*ph) + 0.4*math.Sin(1200*ph)) *
			(0.6 + 0.4*math.Sin(4*ph)))
	}
	for i := range x { // faint noise so the floor has something to track
		x[i] += float32(0.0005 * math.Sin(float64(i)*12.9898))
	}
	if err := os.WriteFile(filepath.Join(dir, "clip000.wav"), encodeWAV16(rate, x), 0o644); err != nil {
		t.Fatal(err)
	}
	l := clipLabels{Clip: "clip000", SampleRate: rate, DurationMs: 4000, Noise: "none", FrameMs: 10,
		Frames: make([]int, 400), Utterances: []segment{{StartMs: 1000, EndMs: 2000}}}
	for i := 100; i < 200; i++ {
		l.Frames[i] = 1
	}
	b, _ := json.Marshal(l)
	if err := os.WriteFile(filepath.Join(dir, "clip000.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEvaluateSyntheticClip(t *testing.T) {
	dir := t.TempDir()
	writeClip(t, dir)
	clips, err := loadCorpus(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, rf := range map[string]replayFunc{"sim": simulate, "gate": replayGate} {
		f, err := evaluate(clips, rf, false, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Clips != 1 || f.Utterances != 1 || f.MissedUtterances != 0 {
			t.Errorf("%s: %+v", name, f)
		}
		if f.Recall < 0.8 || f.AdmittedRecall < 0.9 || f.NoiseAdmitted > 0.05 {
			t.Errorf("%s: recall %.2f admitted %.2f noise %.2f", name, f.Recall, f.AdmittedRecall, f.NoiseAdmitted)
		}
	}
}

func TestLoadCorpusErrors(t *testing.T) {
	if _, err := loadCorpus(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing corpus accepted")
	}
	if _, err := loadCorpus(t.TempDir()); err == nil {
		t.Error("empty corpus accepted")
	}
}
