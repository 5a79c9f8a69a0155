package main

import (
	"context"
	"sync"
	"time"

	"github.com/inferflow/inferflow/gate"
)

// recorder is the uplink: it notes which frames (by Seq) reached it, one by
// one or in held batches.
type recorder struct {
	mu   sync.Mutex
	seen map[uint64]bool
}

func (r *recorder) SendFrame(_ context.Context, f gate.Frame, _ gate.Lane) error {
	r.mu.Lock()
	r.seen[f.Seq] = true
	r.mu.Unlock()
	return nil
}

func (r *recorder) SendBatch(_ context.Context, fs []gate.Frame, _ gate.Lane, _ uint64) error {
	r.mu.Lock()
	for _, f := range fs {
		r.seen[f.Seq] = true
	}
	r.mu.Unlock()
	return nil
}

// replayGate runs one clip through the real gate in simulated time: a
// ManualClock set to each frame's time, server events at their at_ms, the
// far-end frame before the microphone frame of the same 20 ms, and Drain
// after every frame so delivery is deterministic.
func replayGate(c clip) (run, time.Duration, error) {
	return replayGateObserved(c, nil)
}

// replayGateObserved is replayGate that also shows observe (when not nil)
// each frame's outcome and the gate's snapshot after it (for -plot).
func replayGateObserved(c clip, observe func(i int, out gate.Outcome, snap gate.Snapshot)) (run, time.Duration, error) {
	rate := c.Mic.Rate
	fl := rate * frameMs / 1000
	n := len(c.Mic.Samples) / fl
	r := run{Speech: make([]bool, n), Admitted: make([]bool, n)}
	t0 := time.Unix(1_700_000_000, 0)
	clock := gate.NewManualClock(t0)
	rec := &recorder{seen: map[uint64]bool{}}
	g, err := gate.New(gate.Config{}, gate.Deps{Uplink: rec, Clock: clock})
	if err != nil {
		return run{}, 0, err
	}
	defer g.Close()
	ctx := context.Background()
	seqFrame := make(map[uint64]int, n)
	far := make([]float32, fl)
	var spent time.Duration
	ev := 0
	for i := 0; i < n; i++ {
		ms := i * frameMs
		clock.Set(t0.Add(time.Duration(ms) * time.Millisecond))
		for ev < len(c.Labels.Events) && c.Labels.Events[ev].AtMs <= ms {
			e := c.Labels.Events[ev]
			g.HandleServerEvent(gate.ServerEvent{Type: e.Type, ResponseID: e.ResponseID})
			ev++
		}
		base := gate.Frame{SessionID: "eval", StreamID: "mic", SpeakerID: "user",
			SampleRate: rate, Duration: frameMs * time.Millisecond}
		if c.Far != nil {
			for k := range far {
				far[k] = 0
				if j := i*fl + k; j < len(c.Far.Samples) {
					far[k] = c.Far.Samples[j]
				}
			}
			ff := base
			ff.Float32 = far
			if err := g.ProcessFarEnd(ff); err != nil {
				return run{}, 0, err
			}
		}
		f := base
		f.Float32 = c.Mic.Samples[i*fl : (i+1)*fl]
		t := time.Now()
		out, err := g.ProcessFrame(f)
		spent += time.Since(t)
		if err != nil {
			return run{}, 0, err
		}
		seqFrame[out.Seq] = i
		r.Speech[i] = out.UserSpeech()
		if observe != nil {
			observe(i, out, g.Snapshot())
		}
		if err := g.Drain(ctx); err != nil {
			return run{}, 0, err
		}
	}
	// Let the barrier open and any held audio go out.
	clock.Advance(5 * time.Second)
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = g.Flush(fctx)
	rec.mu.Lock()
	for seq := range rec.seen {
		if i, ok := seqFrame[seq]; ok {
			r.Admitted[i] = true
		}
	}
	rec.mu.Unlock()
	return r, spent, nil
}
