package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// segment is a stretch of time in a clip, in ms.
type segment struct {
	StartMs int    `json:"start_ms"`
	EndMs   int    `json:"end_ms"`
	Text    string `json:"text,omitempty"`
	Voice   string `json:"voice,omitempty"`
	BargeIn bool   `json:"barge_in,omitempty"`
}

// event is a realtime server event on the clip's timeline.
type event struct {
	AtMs       int    `json:"at_ms"`
	Type       string `json:"type"`
	ResponseID string `json:"response_id"`
}

// clipLabels mirrors clipNNN.json of the corpus.
type clipLabels struct {
	Clip        string    `json:"clip"`
	SampleRate  int       `json:"sample_rate"`
	DurationMs  int       `json:"duration_ms"`
	Noise       string    `json:"noise"`
	SNRdB       *float64  `json:"snr_db"`
	FrameMs     int       `json:"frame_ms"`
	Frames      []int     `json:"frames"`
	Utterances  []segment `json:"utterances"`
	Assistant   []segment `json:"assistant_playback"`
	EchoDelayMs *int      `json:"echo_delay_ms"`
	FarEnd      string    `json:"farend_wav"`
	Events      []event   `json:"events"`
}

// snrName names the clip's SNR group for the tables.
func (l clipLabels) snrName() string {
	if l.SNRdB == nil {
		return "clean"
	}
	return fmt.Sprintf("%gdB", *l.SNRdB)
}

// clip is one corpus entry: audio, optional far end, labels.
type clip struct {
	Labels clipLabels
	Mic    wavAudio
	Far    *wavAudio
}

func readLabels(path string) (clipLabels, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return clipLabels{}, err
	}
	var l clipLabels
	if err := json.Unmarshal(b, &l); err != nil {
		return clipLabels{}, fmt.Errorf("%s: %w", path, err)
	}
	if l.FrameMs == 0 {
		l.FrameMs = 10
	}
	sort.SliceStable(l.Events, func(i, j int) bool { return l.Events[i].AtMs < l.Events[j].AtMs })
	return l, nil
}

// loadCorpus reads every clipNNN.json with its WAV files from dir.
func loadCorpus(dir string) ([]clip, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("corpus %q: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("corpus %q is not a directory", dir)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []clip
	for _, jn := range names {
		l, err := readLabels(jn)
		if err != nil {
			return nil, err
		}
		base := strings.TrimSuffix(jn, ".json")
		mic, err := readWAV(base + ".wav")
		if err != nil {
			return nil, fmt.Errorf("%s.wav: %w", base, err)
		}
		c := clip{Labels: l, Mic: mic}
		if l.FarEnd != "" {
			far, err := readWAV(filepath.Join(dir, l.FarEnd))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", l.FarEnd, err)
			}
			c.Far = &far
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("corpus %q holds no clip JSON files", dir)
	}
	return out, nil
}
