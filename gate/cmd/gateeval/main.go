// Command gateeval replays the labelled speech corpus through the speech gate
// in simulated time and prints the figures defined in the corpus README as
// one JSON object on stdout, with per-noise and per-SNR tables on stderr.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

func main() {
	corpus := flag.String("corpus", defaultCorpus(), "corpus directory (clipNNN.wav + clipNNN.json)")
	perClip := flag.Bool("v", false, "also print per-clip figures on stderr")
	sim := flag.Bool("sim", false, "replay through the detector with a simulated hangover and barrier instead of the gate")
	trace := flag.String("trace", "", "print the detector's per-frame measures for this clip (e.g. clip003) and exit")
	dump := flag.String("dump", "", "write every clip's per-frame labels and detector measures (band levels and floors too) to this file and exit")
	plot := flag.String("plot", "", "write one SVG per clip into this directory (labels, the gate's decision per frame, playback, barrier) and exit")
	flag.Parse()
	clips, err := loadCorpus(*corpus)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateeval:", err)
		os.Exit(1)
	}
	if *dump != "" {
		f, err := os.Create(*dump)
		if err == nil {
			for _, c := range clips {
				if err = dumpClip(c, f); err != nil {
					break
				}
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "gateeval:", err)
			os.Exit(1)
		}
		return
	}
	if *plot != "" {
		if err := plotCorpus(clips, *plot); err != nil {
			fmt.Fprintln(os.Stderr, "gateeval:", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "gateeval: %d plots in %s\n", len(clips), *plot)
		return
	}
	if *trace != "" {
		for _, c := range clips {
			if c.Labels.Clip == *trace {
				if err := traceClip(c, os.Stdout); err != nil {
					fmt.Fprintln(os.Stderr, "gateeval:", err)
					os.Exit(1)
				}
				return
			}
		}
		fmt.Fprintln(os.Stderr, "gateeval: no clip", *trace)
		os.Exit(1)
	}
	rf := replay
	if *sim {
		rf = simulate
	}
	res, err := evaluate(clips, rf, *perClip, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateeval:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "gateeval:", err)
		os.Exit(1)
	}
}

// defaultCorpus is ../shared/corpus/speech-dev relative to the repo root,
// found by walking up to go.mod so it works from any directory in the repo.
func defaultCorpus() string {
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Join("..", "shared", "corpus", "speech-dev")
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "..", "shared", "corpus", "speech-dev")
		}
		if filepath.Dir(d) == d {
			return filepath.Join("..", "shared", "corpus", "speech-dev")
		}
	}
}

// replayFunc runs one clip and returns what happened and the time spent in
// the gate's frame processing.
type replayFunc func(clip) (run, time.Duration, error)

// evaluate replays every clip, prints the group tables to w and returns the
// pooled figures.
func evaluate(clips []clip, replay replayFunc, perClip bool, w io.Writer) (figures, error) {
	var all counts
	var spent time.Duration
	byNoise := map[string]*counts{}
	bySNR := map[string]*counts{}
	for _, c := range clips {
		r, t, err := replay(c)
		if err != nil {
			return figures{}, fmt.Errorf("%s: %w", c.Labels.Clip, err)
		}
		k := score(c.Labels, r)
		spent += t
		all.add(k)
		for _, g := range []struct {
			m   map[string]*counts
			key string
		}{{byNoise, c.Labels.Noise}, {bySNR, c.Labels.snrName()}} {
			if g.m[g.key] == nil {
				g.m[g.key] = &counts{}
			}
			g.m[g.key].add(k)
		}
		if perClip {
			printRow(w, c.Labels.Clip+" "+c.Labels.Noise+" "+c.Labels.snrName(), k)
		}
	}
	fmt.Fprintf(w, "%-22s %6s %6s %6s %6s %6s %6s %6s %7s\n", "group", "prec", "recall", "f1", "admRec", "noise", "echo", "barge", "missed")
	for _, m := range []map[string]*counts{byNoise, bySNR} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			printRow(w, k, *m[k])
		}
	}
	printRow(w, "all", all)
	f := all.figures()
	f.Clips = len(clips)
	if all.Frames > 0 {
		f.NsPerFrame = float64(spent.Nanoseconds()) / float64(all.Frames)
	}
	return f, nil
}

func printRow(w io.Writer, name string, c counts) {
	f := c.figures()
	na := func(v float64, den int) string {
		if den == 0 {
			return "-"
		}
		return fmt.Sprintf("%.3f", v)
	}
	fmt.Fprintf(w, "%-22s %6.3f %6.3f %6.3f %6.3f %6s %6s %6s %3d/%-3d\n", name, f.Precision, f.Recall, f.F1,
		f.AdmittedRecall, na(f.NoiseAdmitted, c.Noise), na(f.EchoAdmitted, c.Echo), na(f.BargeInAdmitted, c.Barge), c.Missed, c.Utterances)
}
