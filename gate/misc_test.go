package gate

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"
)

func TestLaneFailureOnFlushDiscardsBatch(t *testing.T) {
	h := newHarness(t, Config{}, Deps{ResolveLane: func(r LaneRequest) (Lane, error) {
		if r.ReplayedFromHoldBuffer {
			return "", errBoom
		}
		return "live", nil
	}})
	h.event(ServerResponseCreated, "r")
	h.step(kSpeech)
	h.step(kSpeech)
	h.event(ServerResponseDone, "r")
	h.clk.Advance(time.Second)
	h.flush()
	m := h.g.Metrics()
	if m.LaneResolutionFailures != 1 || m.HeldFramesDiscarded != 2 || len(h.up.delivered()) != 0 {
		t.Fatalf("metrics %+v", m)
	}
	if out := h.step(kSpeech); out.Lane != "live" || out.Action != Admitted {
		t.Fatalf("%+v", out)
	}
}

func TestBatchUplinkMetrics(t *testing.T) {
	up := &recUplink{}
	h := newHarness(t, Config{}, Deps{Uplink: batchUplink{up}})
	h.event(ServerResponseCreated, "r")
	for i := 0; i < 3; i++ {
		h.step(kSpeech)
	}
	h.event(ServerResponseDone, "r")
	h.clk.Advance(time.Second)
	h.flush()
	bs := up.batchList()
	if len(bs) != 1 || bs[0].gen != 1 || len(bs[0].seqs) != 3 || bs[0].lane != DefaultLane {
		t.Fatalf("batches %+v", bs)
	}
	m := h.g.Metrics()
	if m.HeldFlushes != 1 || m.HeldFlushFrames != 3 || m.UplinksSucceeded != 0 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestCloseReleasesFlush(t *testing.T) {
	h := newHarness(t, Config{}, Deps{})
	h.event(ServerResponseCreated, "r")
	h.step(kSpeech)
	errc := make(chan error, 1)
	go func() { errc <- h.g.Flush(context.Background()) }()
	time.Sleep(5 * time.Millisecond)
	h.g.Close()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Flush not released by Close")
	}
}

func TestUplinkContextCarriesDeadline(t *testing.T) {
	var dl atomic.Value
	up := UplinkFunc(func(ctx context.Context, f Frame, l Lane) error {
		d, ok := ctx.Deadline()
		if !ok || ctx.Err() != nil {
			return errBoom
		}
		dl.Store(d)
		return nil
	})
	h := newHarness(t, Config{}, Deps{Uplink: up})
	h.step(kSpeech)
	h.drain()
	if d, _ := dl.Load().(time.Time); !d.Equal(t0.Add(20*time.Millisecond + DefaultUplinkTimeout)) {
		t.Fatalf("deadline %v", d)
	}
	if m := h.g.Metrics(); m.UplinksSucceeded != 1 {
		t.Fatalf("%+v", m)
	}
}

// After a timeout the worker's next call gets a fresh, live context.
func TestContextAfterTimeoutIsFresh(t *testing.T) {
	var calls atomic.Int32
	started := make(chan struct{}, 4)
	up := UplinkFunc(func(ctx context.Context, f Frame, l Lane) error {
		if calls.Add(1) == 1 {
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}
		if ctx.Err() != nil {
			return errBoom
		}
		select {
		case <-ctx.Done():
			return errBoom
		default:
		}
		return nil
	})
	h := newHarness(t, Config{}, Deps{Uplink: up})
	h.step(kSpeech)
	<-started
	waitFor(t, "timer", func() bool { return h.clk.PendingTimers() > 0 })
	h.clk.Advance(DefaultUplinkTimeout)
	h.drain()
	h.step(kSpeech)
	h.drain()
	if m := h.g.Metrics(); m.UplinksTimedOut != 1 || m.UplinksSucceeded != 1 || m.UplinksErrored != 0 {
		t.Fatalf("%+v", m)
	}
}

func TestManualClock(t *testing.T) {
	c := NewManualClock(t0)
	var order []int
	c.AfterFunc(30*time.Millisecond, func() { order = append(order, 3) })
	t1 := c.AfterFunc(10*time.Millisecond, func() {
		order = append(order, 1)
		if want := t0.Add(10 * time.Millisecond); len(order) == 1 && !c.Now().Equal(want) {
			t.Errorf("now in callback %v", c.Now())
		}
	})
	stopped := c.AfterFunc(20*time.Millisecond, func() { order = append(order, 2) })
	if !stopped.Stop() {
		t.Fatal("Stop of an armed timer returned false")
	}
	c.Advance(15 * time.Millisecond)
	t1.Reset(10 * time.Millisecond) // re-arm after firing: due at +25ms
	c.Advance(time.Second)
	if len(order) != 3 || order[0] != 1 || order[1] != 1 || order[2] != 3 {
		t.Fatalf("order %v", order)
	}
	if !c.Now().Equal(t0.Add(1015*time.Millisecond)) || c.PendingTimers() != 0 {
		t.Fatalf("now %v pending %d", c.Now(), c.PendingTimers())
	}
	c.Set(t0) // never backwards
	if !c.Now().Equal(t0.Add(1015 * time.Millisecond)) {
		t.Fatal("clock went backwards")
	}
}

// The real detector runs behind the gate without allocations or panics.
func TestRealDetectorSmoke(t *testing.T) {
	clk := NewManualClock(t0)
	g, err := New(Config{}, Deps{Uplink: &recUplink{}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, rate := range []int{8000, 16000, 24000, 48000} {
		n := rate / 50
		for i := 0; i < 100; i++ {
			s := make([]float32, n)
			for j := range s {
				if (i/20)%2 == 1 {
					s[j] = float32(0.3 * math.Sin(2*math.Pi*200*float64(i*n+j)/float64(rate)))
				}
			}
			clk.Advance(20 * time.Millisecond)
			f := Frame{SessionID: "s", StreamID: "mic", SpeakerID: "u", SampleRate: rate, Duration: 20 * time.Millisecond, Float32: s}
			if _, err := g.ProcessFrame(f); err != nil {
				t.Fatal(err)
			}
			f.SpeakerID = "assistant"
			if err := g.ProcessFarEnd(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	if s := g.Snapshot(); s.Metrics.FramesTotal != 400 || s.Streams != 4 {
		t.Fatalf("%+v", s.Metrics)
	}
}

func TestMarkPlaybackActivity(t *testing.T) {
	h := newHarness(t, Config{}, Deps{})
	h.g.MarkPlaybackActivity()
	if out := h.step(kSpeech); out.Action != Held {
		t.Fatalf("%+v", out)
	}
	h.clk.Advance(DefaultAssistantTailHold)
	h.drain()
	if len(h.up.delivered()) != 1 {
		t.Fatal("held frame not flushed at the tail end")
	}
	if h.g.Closed() {
		t.Fatal("Closed")
	}
}

func TestErrorStrings(t *testing.T) {
	e := &Error{Code: CodeUplinkError, Err: errBoom}
	if e.Error() != "gate: UPLINK_ERROR: boom" || e.Unwrap() != errBoom {
		t.Fatal(e.Error())
	}
	fe := &FrameError{Reason: ReasonEmpty, Field: "Int16", Detail: "x", FarEnd: true}
	if fe.Code() != CodeInvalidFrame || fe.Error() == "" {
		t.Fatal(fe.Error())
	}
}
