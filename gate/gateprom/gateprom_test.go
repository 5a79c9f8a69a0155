package gateprom

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/inferflow/inferflow/gate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCountersCoverMetrics: every gate.Metrics field is exported exactly
// once, under a distinct name.
func TestCountersCoverMetrics(t *testing.T) {
	var m gate.Metrics
	v := reflect.ValueOf(&m).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Uint64:
			f.SetUint(uint64(i + 1))
		case reflect.Int64: // time.Duration: i+1 seconds
			f.SetInt(int64(time.Duration(i+1) * time.Second))
		default:
			t.Fatalf("field %s has kind %s", v.Type().Field(i).Name, f.Kind())
		}
	}
	seen := map[float64]string{}
	names := map[string]bool{}
	for _, k := range counters {
		x := k.get(&m)
		if prev, dup := seen[x]; dup {
			t.Fatalf("%s and %s export the same field", prev, k.name)
		}
		seen[x] = k.name
		if names[k.name] || !strings.HasSuffix(k.name, "_total") {
			t.Fatalf("bad or duplicate name %s", k.name)
		}
		names[k.name] = true
	}
	if len(seen) != v.NumField() {
		t.Fatalf("%d counters for %d Metrics fields", len(seen), v.NumField())
	}
}

// tone is a loud harmonic 20 ms frame at 16 kHz (speech to the detector).
func tone(i int) []int16 {
	s := make([]int16, 320)
	for j := range s {
		x := float64(i*320+j) / 16000
		s[j] = int16(6000 * (math.Sin(2*math.Pi*180*x) + 0.5*math.Sin(2*math.Pi*360*x) + 0.3*math.Sin(2*math.Pi*720*x)))
	}
	return s
}

// quiet is a frame of low deterministic noise.
func quiet(i int) []int16 {
	s := make([]int16, 320)
	for j := range s {
		s[j] = int16((i*7919+j*104729)%61) - 30
	}
	return s
}

type session struct {
	g    *gate.Gate
	clk  *gate.ManualClock
	n    int
	up   chan struct{} // closed to release the uplink
	name string
}

func newSession(t *testing.T, c *Collector, name string) *session {
	t.Helper()
	s := &session{clk: gate.NewManualClock(time.Unix(1000, 0)), up: make(chan struct{}), name: name}
	g, err := gate.New(gate.Config{}, gate.Deps{
		Clock: s.clk,
		Uplink: gate.UplinkFunc(func(ctx context.Context, _ gate.Frame, _ gate.Lane) error {
			select {
			case <-s.up:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}),
		OnEvent: c.ObserveEvent,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.g = g
	c.Add(g)
	t.Cleanup(func() { s.release(); g.Close() })
	return s
}

func (s *session) release() {
	select {
	case <-s.up:
	default:
		close(s.up)
	}
}

func (s *session) frames(t *testing.T, speech bool, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		s.n++
		s.clk.Advance(20 * time.Millisecond)
		pcm := quiet(s.n)
		if speech {
			pcm = tone(s.n)
		}
		f := gate.Frame{SessionID: s.name, StreamID: "mic", SpeakerID: "u", SampleRate: 16000,
			Duration: 20 * time.Millisecond, Int16: pcm, Timestamp: time.Duration(s.n) * 20 * time.Millisecond}
		if _, err := s.g.ProcessFrame(f); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *session) drain(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.g.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

// gathered returns the collector's values by full name: label values are
// appended as name{value}, histograms give name_count and name_sum.
func gathered(t *testing.T, c *Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() != "turn_state" {
					t.Fatalf("unexpected label %s on %s", l.GetName(), name)
				}
				name += "{" + l.GetValue() + "}"
			}
			if h := m.GetHistogram(); h != nil {
				out[name+"_count"] = float64(h.GetSampleCount())
				out[name+"_sum"] = h.GetSampleSum()
				continue
			}
			out[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

func TestCollector(t *testing.T) {
	c := NewCollector("test")
	a := newSession(t, c, "a")
	b := newSession(t, c, "b")

	// a: a turn with the uplink blocked, so frames wait in flight and in
	// the queue; b: a turn held behind the assistant's barrier.
	a.frames(t, false, 10)
	a.frames(t, true, 8)
	b.frames(t, false, 10)
	b.g.HandleServerEvent(gate.ServerEvent{Type: gate.ServerResponseCreated, ResponseID: "r1"})
	b.frames(t, true, 8)

	sa, sb := a.g.Snapshot(), b.g.Snapshot()
	if sa.Inflight == 0 || sa.QueueDepth == 0 || sb.Held.Frames == 0 || !sb.Barrier.Closed {
		t.Fatalf("setup: a inflight %d queue %d, b held %d", sa.Inflight, sa.QueueDepth, sb.Held.Frames)
	}
	m := gathered(t, c)
	for name, want := range map[string]float64{
		"test_speech_gate_frames_total":                            float64(sa.Metrics.FramesTotal + sb.Metrics.FramesTotal),
		"test_speech_gate_frames_speech_total":                     float64(sa.Metrics.FramesSpeechDetected + sb.Metrics.FramesSpeechDetected),
		"test_speech_gate_held_frames_accepted_total":              float64(sb.Metrics.HeldFramesAccepted),
		"test_speech_gate_frames_dropped_queue_backpressure_total": float64(sa.Metrics.FramesDroppedQueueBackpressure),
		"test_speech_gate_speech_starts_total":                     2,
		"test_speech_gate_live_gates":                              2,
		"test_speech_gate_held_frames":                             float64(sb.Held.Frames),
		"test_speech_gate_queued_frames":                           float64(sa.QueueDepth),
		"test_speech_gate_inflight_uplinks":                        float64(sa.Inflight),
		"test_speech_gate_barrier_closed_gates":                    1,
		"test_speech_gate_gates{speaking}":                         1,
		"test_speech_gate_gates{assistant_blocked}":                1,
		"test_speech_gate_gates{idle}":                             0,
	} {
		v, ok := m[name]
		if !ok {
			t.Fatalf("%s missing", name)
		}
		if v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}

	// a's call ends: its turn is over, it closes and leaves the
	// collector. Counters keep what a counted; gauges drop it.
	a.release()
	a.frames(t, false, 15)
	a.drain(t)
	a.g.Close()
	final := a.g.Metrics()
	c.Remove(a.g)
	c.Remove(a.g) // twice: no double counting
	b.frames(t, false, 3)
	sb = b.g.Snapshot()
	m = gathered(t, c)
	check := func(name string, want float64) {
		t.Helper()
		if v, ok := m[name]; !ok || v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	check("test_speech_gate_frames_total", float64(final.FramesTotal+sb.Metrics.FramesTotal))
	check("test_speech_gate_uplinks_succeeded_total", float64(final.UplinksSucceeded+sb.Metrics.UplinksSucceeded))
	check("test_speech_gate_speech_ends_total", float64(final.SpeechEndEvents+sb.Metrics.SpeechEndEvents))
	check("test_speech_gate_live_gates", 1)
	check("test_speech_gate_queued_frames", 0)
	check("test_speech_gate_inflight_uplinks", 0)
	if final.UplinksSucceeded == 0 || final.SpeechEndEvents != 1 {
		t.Fatalf("a's final metrics %+v", final)
	}

	// The turn histogram saw a's turn through ObserveEvent, plus one
	// reported directly.
	c.ObserveTurn(1500 * time.Millisecond)
	m = gathered(t, c)
	if n, sum := m["test_speech_gate_turn_duration_seconds_count"], m["test_speech_gate_turn_duration_seconds_sum"]; n != 2 || sum < 1.5+0.1 {
		t.Fatalf("turn histogram count %v sum %v", n, sum)
	}

	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}
}

// TestCollectorEmptyNamespace: names without a namespace, and the exact
// exposition of a collector with no gates.
func TestCollectorEmptyNamespace(t *testing.T) {
	c := NewCollector("")
	c.ObserveEvent(gate.Event{Type: gate.EventTurnEnded, Duration: 700 * time.Millisecond})
	c.ObserveEvent(gate.Event{Type: gate.EventUplinkResult, Duration: time.Hour}) // ignored
	want := `
# HELP speech_gate_live_gates Gates registered with the collector.
# TYPE speech_gate_live_gates gauge
speech_gate_live_gates 0
# HELP speech_gate_turn_duration_seconds Length of user turns, from the start of the first speech frame to the end of the last.
# TYPE speech_gate_turn_duration_seconds histogram
` + buckets(0.7) + `speech_gate_turn_duration_seconds_sum 0.7
speech_gate_turn_duration_seconds_count 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "speech_gate_live_gates", "speech_gate_turn_duration_seconds"); err != nil {
		t.Fatal(err)
	}
}

func buckets(v float64) string {
	var b strings.Builder
	for _, le := range TurnBuckets {
		n := 0
		if v <= le {
			n = 1
		}
		fmt.Fprintf(&b, "speech_gate_turn_duration_seconds_bucket{le=\"%g\"} %d\n", le, n)
	}
	b.WriteString("speech_gate_turn_duration_seconds_bucket{le=\"+Inf\"} 1\n")
	return b.String()
}
