package gate

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestQueueBackpressure(t *testing.T) {
	tests := []struct {
		policy    OverflowPolicy
		lastOut   Action
		lastErr   error
		delivered []uint64
	}{
		{DropOldest, Queued, nil, []uint64{1, 3, 4, 5, 6}},
		{DropNewest, Dropped, nil, []uint64{1, 2, 3, 4, 5}},
		{Reject, Rejected, ErrQueueFull, []uint64{1, 2, 3, 4, 5}},
	}
	for _, tc := range tests {
		t.Run(string(tc.policy), func(t *testing.T) {
			up := &recUplink{started: make(chan uint64, 16), release: make(chan struct{})}
			h := newHarness(t, Config{OverflowPolicy: tc.policy, UplinkTimeout: time.Hour}, Deps{Uplink: up})
			if out := h.step(kSpeech); out.Action != Admitted {
				t.Fatalf("first frame %s", out.Action)
			}
			<-up.started // frame 1 in flight
			for i := 0; i < 4; i++ {
				if out := h.step(kSpeech); out.Action != Queued || out.QueueDepth != i+1 {
					t.Fatalf("frame %d: %s depth %d", i+2, out.Action, out.QueueDepth)
				}
			}
			out, err := h.g.ProcessFrame(mkFrame(kSpeech))
			if out.Action != tc.lastOut || !errors.Is(err, tc.lastErr) || (tc.lastErr == nil && err != nil) {
				t.Fatalf("overflow frame: %s/%s %v", out.Action, out.Reason, err)
			}
			if out.Action != Queued && out.Reason != ReasonQueueBackpressure {
				t.Fatalf("reason %s", out.Reason)
			}
			close(up.release)
			h.drain()
			if got := up.delivered(); !slices.Equal(got, tc.delivered) {
				t.Fatalf("delivered %v, want %v", got, tc.delivered)
			}
			m := h.g.Metrics()
			if m.FramesDroppedQueueBackpressure != 1 || m.FramesAdmittedImmediate != 1 || m.UplinksSucceeded != 5 {
				t.Fatalf("metrics %+v", m)
			}
		})
	}
}

func TestUplinkTimeout(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		batched bool
		timeout time.Duration
	}{
		{"single default", Config{}, false, 120 * time.Millisecond},
		{"single custom", Config{UplinkTimeout: 40 * time.Millisecond}, false, 40 * time.Millisecond},
		{"batch floor 250ms", Config{}, true, 250 * time.Millisecond},
		{"batch 2x timeout", Config{UplinkTimeout: 200 * time.Millisecond}, true, 400 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := &recUplink{block: true, started: make(chan uint64, 16)}
			var uplink Uplink = up
			if tc.batched {
				uplink = batchUplink{up}
			}
			h := newHarness(t, tc.cfg, Deps{Uplink: uplink})
			if tc.batched {
				h.event(ServerOutputAudioDelta, "")
				h.step(kSpeech)
				h.step(kSpeech)
				// Exactly to the tail end, so the worker reads the same time.
				h.clk.Set(h.g.Snapshot().Barrier.LastActivity.Add(DefaultAssistantTailHold + 1))
			} else {
				h.step(kSpeech)
			}
			<-up.started
			waitFor(t, "timeout timer", func() bool { return h.clk.PendingTimers() >= 1 })
			h.clk.Advance(tc.timeout - 1)
			time.Sleep(5 * time.Millisecond)
			if m := h.g.Metrics(); m.UplinksTimedOut != 0 {
				t.Fatalf("timed out early")
			}
			h.clk.Advance(1)
			h.drain()
			m := h.g.Metrics()
			if m.UplinksTimedOut != 1 || m.UplinksSucceeded != 0 {
				t.Fatalf("metrics %+v", m)
			}
			errs := h.log.of(EventError)
			if len(errs) != 1 || errs[0].Code != CodeUplinkTimeout || !errors.Is(errs[0].Err, ErrUplinkTimeout) || errs[0].Latency != tc.timeout {
				t.Fatalf("error events %+v", errs)
			}
			if tc.batched && m.HeldFlushFailures != 1 {
				t.Fatalf("batch failure not counted: %+v", m)
			}
		})
	}
}

func TestUplinkErrorAndPanic(t *testing.T) {
	for _, tc := range []struct {
		name string
		up   *recUplink
	}{
		{"error", &recUplink{err: errBoom}},
		{"panic", &recUplink{panicV: "kaboom"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{}, Deps{Uplink: tc.up})
			h.step(kSpeech)
			h.drain()
			h.step(kSpeech) // the worker survived
			h.drain()
			m := h.g.Metrics()
			if m.UplinksErrored != 2 {
				t.Fatalf("metrics %+v", m)
			}
			if tc.up.panicV != nil && m.UplinkPanics != 2 {
				t.Fatalf("panics not counted: %+v", m)
			}
			res := h.log.of(EventUplinkResult)
			if len(res) != 2 || res[0].Err == nil || res[0].Seq != 1 {
				t.Fatalf("results %+v", res)
			}
		})
	}
}

func TestConcurrencyLimit(t *testing.T) {
	for _, limit := range []int{1, 2, 3} {
		up := &recUplink{release: make(chan struct{}), started: make(chan uint64, 64)}
		h := newHarness(t, Config{MaxConcurrentUplinks: limit, MaxQueueDepth: 16, UplinkTimeout: time.Hour}, Deps{Uplink: up})
		for i := 0; i < 10; i++ {
			h.step(kSpeech)
		}
		for i := 0; i < limit; i++ {
			<-up.started
		}
		time.Sleep(10 * time.Millisecond)
		if s := h.g.Snapshot(); s.Inflight != limit || s.QueueDepth != 10-limit {
			t.Fatalf("limit %d: inflight %d depth %d", limit, s.Inflight, s.QueueDepth)
		}
		close(up.release)
		h.drain()
		if up.maxIn != limit || len(up.delivered()) != 10 {
			t.Fatalf("limit %d: max in flight %d, delivered %d", limit, up.maxIn, len(up.delivered()))
		}
	}
}

func TestLaneResolution(t *testing.T) {
	tests := []struct {
		name string
		fn   LaneFunc
	}{
		{"error", func(LaneRequest) (Lane, error) { return "", errBoom }},
		{"panic", func(LaneRequest) (Lane, error) { panic("lane") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{}, Deps{ResolveLane: tc.fn})
			out, err := h.g.ProcessFrame(mkFrame(kSpeech))
			if out.Action != Rejected || out.Reason != ReasonLaneFailed || !errors.Is(err, ErrLaneResolution) {
				t.Fatalf("%+v %v", out, err)
			}
			var ge *Error
			if !errors.As(err, &ge) || ge.Code != CodeLaneResolutionFailed {
				t.Fatalf("error %T %v", err, err)
			}
			if h.g.Metrics().LaneResolutionFailures != 1 {
				t.Fatal("not counted")
			}
			if ev := h.log.of(EventError); len(ev) != 1 || ev[0].Code != CodeLaneResolutionFailed {
				t.Fatalf("events %+v", ev)
			}
			// Silence needs no lane and still flows.
			h.clk.Advance(time.Second)
			if out := h.step(kSilence); out.Action != Dropped || out.Reason != ReasonSilence {
				t.Fatalf("%+v", out)
			}
		})
	}
	t.Run("lane passed through", func(t *testing.T) {
		var reqs []LaneRequest
		var mu sync.Mutex
		var got atomic.Value
		up := UplinkFunc(func(_ context.Context, _ Frame, l Lane) error { got.Store(l); return nil })
		h := newHarness(t, Config{}, Deps{Uplink: up, ResolveLane: func(r LaneRequest) (Lane, error) {
			mu.Lock()
			reqs = append(reqs, r)
			mu.Unlock()
			return "fast", nil
		}})
		out := h.step(kSpeech)
		h.drain()
		if out.Lane != "fast" || got.Load() != Lane("fast") || !reqs[0].IsSpeech || reqs[0].Frame.Seq != 1 {
			t.Fatalf("%+v %v %+v", out, got.Load(), reqs)
		}
	})
}

func TestPanickingObserver(t *testing.T) {
	var calls atomic.Uint64
	h := newHarness(t, Config{}, Deps{OnEvent: func(Event) { calls.Add(1); panic("observer") }})
	for i := 0; i < 5; i++ {
		if out := h.step(kSpeech); out.Action != Admitted && out.Action != Queued {
			t.Fatalf("%+v", out)
		}
		h.drain()
	}
	if len(h.up.delivered()) != 5 {
		t.Fatalf("delivered %d", len(h.up.delivered()))
	}
	if m := h.g.Metrics(); m.ObserverPanics == 0 || m.ObserverPanics != calls.Load() {
		t.Fatalf("observer panics %d, calls %d", m.ObserverPanics, calls.Load())
	}
}

func TestCloseWhileBusy(t *testing.T) {
	up := &recUplink{block: true, started: make(chan uint64, 16)}
	h := newHarness(t, Config{}, Deps{Uplink: up})
	h.step(kSpeech)
	h.step(kSpeech)
	h.event(ServerResponseCreated, "r")
	h.step(kSpeech) // held
	<-up.started
	done := make(chan struct{})
	go func() { h.g.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung with a call in flight")
	}
	out, err := h.g.ProcessFrame(mkFrame(kSpeech))
	if !errors.Is(err, ErrClosed) || out.Action != Rejected || out.Reason != ReasonGateClosed {
		t.Fatalf("after close: %+v %v", out, err)
	}
	if err := h.g.ProcessFarEnd(mkFrame(kSpeech)); !errors.Is(err, ErrClosed) {
		t.Fatalf("far end after close: %v", err)
	}
	s := h.g.Snapshot()
	if !s.Closed || s.TurnState != StateIdle || s.QueueDepth != 0 || s.Held.Frames != 0 || s.Inflight != 0 {
		t.Fatalf("snapshot %+v", s)
	}
	if s.Metrics.FramesDroppedGateClosed != 1 || s.Metrics.HeldFramesDiscarded != 1 {
		t.Fatalf("metrics %+v", s.Metrics)
	}
	h.g.Close() // idempotent
	if err := h.g.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestFlushBoundedByContext(t *testing.T) {
	h := newHarness(t, Config{}, Deps{})
	h.event(ServerResponseCreated, "r")
	h.step(kSpeech)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := h.g.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with the barrier closed: %v", err)
	}
	// Drain ignores held audio.
	h.drain()
	// Opening the barrier while Flush waits lets it finish.
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		errc <- h.g.Flush(ctx)
	}()
	time.Sleep(5 * time.Millisecond)
	h.event(ServerResponseDone, "r")
	h.clk.Advance(time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if len(h.up.delivered()) != 1 {
		t.Fatal("held frame not flushed")
	}
}

func TestFlushWaitsForInflight(t *testing.T) {
	up := &recUplink{release: make(chan struct{}), started: make(chan uint64, 4)}
	h := newHarness(t, Config{}, Deps{Uplink: up})
	h.step(kSpeech)
	h.step(kSpeech)
	<-up.started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := h.g.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush returned %v with work in flight", err)
	}
	close(up.release)
	h.flush()
	if len(up.delivered()) != 2 {
		t.Fatal("not all delivered")
	}
}
