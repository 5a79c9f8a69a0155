package gate

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/inferflow/inferflow/gate/vad"
)

// Frame kinds for the scripted detector, carried in the first sample.
const (
	kSilence int16 = 0
	kSpeech  int16 = 1
	kEcho    int16 = 2 // speech explained by the far end
)

// scriptDetector decides from the frame's first sample, so tests choose
// every decision exactly.
type scriptDetector struct {
	mu     sync.Mutex
	farEnd int
}

func (d *scriptDetector) Process(mic []float32) vad.Decision {
	switch int16(mic[0]*32768 + 0.5) {
	case kSpeech:
		return vad.Decision{Speech: true, Score: 1}
	case kEcho:
		return vad.Decision{Speech: true, Echo: true, Score: 0}
	}
	return vad.Decision{}
}
func (d *scriptDetector) FarEnd([]float32) { d.mu.Lock(); d.farEnd++; d.mu.Unlock() }
func (d *scriptDetector) Reset()           {}

func scriptFactory(int) (detector, error) { return &scriptDetector{}, nil }

// recUplink records deliveries; it can block, fail or panic on demand.
type recUplink struct {
	mu       sync.Mutex
	frames   []uint64 // Seq of every frame delivered (singly or in a batch)
	batches  []recBatch
	inflight int
	maxIn    int
	started  chan uint64 // receives Seq when a single call starts (if non-nil)
	block    bool        // block until ctx is done
	release  chan struct{}
	err      error
	panicV   any
}

type recBatch struct {
	gen  uint64
	seqs []uint64
	lane Lane
}

func (u *recUplink) enter(seq uint64) {
	u.mu.Lock()
	u.inflight++
	u.maxIn = max(u.maxIn, u.inflight)
	u.mu.Unlock()
	if u.started != nil {
		u.started <- seq
	}
}

func (u *recUplink) leave() {
	u.mu.Lock()
	u.inflight--
	u.mu.Unlock()
}

func (u *recUplink) wait(ctx context.Context) error {
	if u.release != nil {
		select {
		case <-u.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if u.block {
		<-ctx.Done()
		return ctx.Err()
	}
	if u.panicV != nil {
		panic(u.panicV)
	}
	return u.err
}

func (u *recUplink) SendFrame(ctx context.Context, f Frame, lane Lane) error {
	u.enter(f.Seq)
	defer u.leave()
	if err := u.wait(ctx); err != nil {
		return err
	}
	u.mu.Lock()
	u.frames = append(u.frames, f.Seq)
	u.mu.Unlock()
	return nil
}

func (u *recUplink) delivered() []uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]uint64(nil), u.frames...)
}

func (u *recUplink) batchList() []recBatch {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]recBatch(nil), u.batches...)
}

// batchUplink adds SendBatch.
type batchUplink struct{ *recUplink }

func (u batchUplink) SendBatch(ctx context.Context, frames []Frame, lane Lane, gen uint64) error {
	u.enter(0)
	defer u.leave()
	if err := u.wait(ctx); err != nil {
		return err
	}
	b := recBatch{gen: gen, lane: lane}
	for _, f := range frames {
		b.seqs = append(b.seqs, f.Seq)
	}
	u.mu.Lock()
	u.batches = append(u.batches, b)
	u.frames = append(u.frames, b.seqs...)
	u.mu.Unlock()
	return nil
}

// eventLog records events.
type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) add(e Event) { l.mu.Lock(); l.evs = append(l.evs, e); l.mu.Unlock() }
func (l *eventLog) of(t EventType) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.evs {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

type harness struct {
	t   *testing.T
	g   *Gate
	clk *ManualClock
	up  *recUplink
	log *eventLog
}

var t0 = time.Unix(1_700_000_000, 0)

func newHarness(t *testing.T, cfg Config, deps Deps) *harness {
	t.Helper()
	h := &harness{t: t, clk: NewManualClock(t0), log: &eventLog{}}
	switch u := deps.Uplink.(type) {
	case nil:
		h.up = &recUplink{}
		deps.Uplink = h.up
	case *recUplink:
		h.up = u
	case batchUplink:
		h.up = u.recUplink
	}
	if deps.OnEvent == nil {
		deps.OnEvent = h.log.add
	}
	deps.Clock = h.clk
	g, err := newGate(cfg, deps, scriptFactory)
	if err != nil {
		t.Fatal(err)
	}
	h.g = g
	t.Cleanup(func() { g.Close() })
	return h
}

func mkFrame(kind int16) Frame {
	s := make([]int16, 320)
	s[0] = kind
	return Frame{SessionID: "sess", StreamID: "mic", SpeakerID: "user", SampleRate: 16000, Duration: 20 * time.Millisecond, Int16: s}
}

// step advances the clock by one 20 ms frame and processes a frame of kind.
func (h *harness) step(kind int16) Outcome {
	h.t.Helper()
	h.clk.Advance(20 * time.Millisecond)
	out, err := h.g.ProcessFrame(mkFrame(kind))
	if err != nil && out.Action != Rejected {
		h.t.Fatalf("error %v with action %s", err, out.Action)
	}
	return out
}

func (h *harness) farEnd() {
	h.t.Helper()
	f := mkFrame(kSpeech)
	f.SpeakerID = "assistant"
	if err := h.g.ProcessFarEnd(f); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) event(typ, id string) {
	h.g.HandleServerEvent(ServerEvent{Type: typ, ResponseID: id})
}

func (h *harness) flush() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.g.Flush(ctx); err != nil {
		h.t.Fatalf("Flush: %v (%+v)", err, h.g.Snapshot())
	}
}

func (h *harness) drain() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.g.Drain(ctx); err != nil {
		h.t.Fatalf("Drain: %v", err)
	}
}

// waitFor polls cond (real time) for goroutine hand-offs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

var errBoom = errors.New("boom")
