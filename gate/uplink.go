package gate

import (
	"context"
	"sync"
	"time"
)

// Uplink delivers admitted audio upstream. The gate calls it from its own
// goroutines (at most Config.MaxConcurrentUplinks at once) with a context
// that ends at the call's timeout or at Close; the call should return soon
// after ctx is done. The frame's sample slices and the context belong to the
// gate and are valid only until the call returns: copy to keep.
type Uplink interface {
	SendFrame(ctx context.Context, f Frame, lane Lane) error
}

// BatchUplink is an Uplink that can take a whole held batch in one call
// (the reference's admitBufferedFrames). Without it the gate sends a held batch
// frame by frame, each call with its own timeout.
type BatchUplink interface {
	Uplink
	SendBatch(ctx context.Context, frames []Frame, lane Lane, generation uint64) error
}

// UplinkFunc adapts a function to Uplink.
type UplinkFunc func(ctx context.Context, f Frame, lane Lane) error

// SendFrame calls fn.
func (fn UplinkFunc) SendFrame(ctx context.Context, f Frame, lane Lane) error {
	return fn(ctx, f, lane)
}

// callCtx is a reusable per-worker context so an uplink call costs no
// allocation: its Done channel is replaced only after it was closed by a
// timeout or Close.
type callCtx struct {
	parent   context.Context
	mu       sync.Mutex
	done     chan struct{}
	err      error
	deadline time.Time
	active   bool
}

func (c *callCtx) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, true
}

func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

func (c *callCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *callCtx) Value(key any) any { return c.parent.Value(key) }

func (c *callCtx) begin(deadline time.Time) {
	c.mu.Lock()
	if c.err != nil {
		c.done, c.err = make(chan struct{}), nil
	}
	c.deadline, c.active = deadline, true
	c.mu.Unlock()
}

// end closes the call and reports how its context ended (nil: it did not).
func (c *callCtx) end() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active = false
	return c.err
}

// cancel ends the running call's context; a timeout only counts once the
// deadline has really passed, which filters a late timer from an earlier call.
func (c *callCtx) cancel(err error, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.active || c.err != nil {
		return
	}
	if err == context.DeadlineExceeded && now.Before(c.deadline) {
		return
	}
	c.err = err
	close(c.done)
}

// worker is one uplink slot: a goroutine owned by the gate.
type worker struct {
	g     *Gate
	ctx   callCtx
	timer Timer
	cur   slot // the frame being sent, swapped out of the queue
	// sendFn is w.sendFrameFn bound once, so a call builds no closure.
	sendFn func(ctx context.Context) error
}

func (w *worker) onTimeout() { w.ctx.cancel(context.DeadlineExceeded, w.g.clock.Now()) }

func (g *Gate) startWorkers() {
	g.workers = make([]*worker, g.cfg.MaxConcurrentUplinks)
	for i := range g.workers {
		w := &worker{g: g}
		w.sendFn = w.sendFrameFn
		w.ctx = callCtx{parent: context.Background(), done: make(chan struct{})}
		w.timer = g.clock.AfterFunc(time.Hour, w.onTimeout)
		w.timer.Stop()
		g.workers[i] = w
		g.wg.Add(1)
		go w.run()
	}
}

func (w *worker) run() {
	g := w.g
	defer g.wg.Done()
	for {
		g.mu.Lock()
		for !g.closed && g.handoff.n == 0 && g.queue.n == 0 && len(g.held.ready) == 0 {
			g.work.Wait()
		}
		if g.closed {
			g.mu.Unlock()
			return
		}
		// Hand-off frames are older than anything queued or drained after
		// them (they are only made when nothing waits) and already hold
		// their slot in inflight.
		if g.handoff.n > 0 {
			w.cur, *g.handoff.front() = *g.handoff.front(), w.cur
			g.handoff.pop()
			w.sendOne()
		} else if len(g.held.ready) > 0 && (g.queue.n == 0 || g.held.ready[0].order < g.queue.front().order) {
			b := g.held.popReady()
			g.inflight++
			w.sendBatch(b) // unlocks and relocks
		} else {
			w.cur, *g.queue.front() = *g.queue.front(), w.cur
			g.queue.pop()
			g.inflight++
			w.sendOne()
		}
		g.inflight--
		g.notifyProgressLocked()
		g.mu.Unlock()
	}
}

// call runs one uplink call with the worker's context and timer. Entered
// and left with g.mu held.
//
//lint:ignore ST1008 err is the call's result and ctxErr its context's; both are outcomes, latency and panicked describe them.
func (w *worker) call(timeout time.Duration, fn func(ctx context.Context) error) (err error, ctxErr error, latency time.Duration, panicked bool) {
	g := w.g
	start := g.clock.Now()
	w.ctx.begin(start.Add(timeout))
	g.mu.Unlock()
	w.timer.Reset(timeout)
	err, panicked = w.protect(fn)
	w.timer.Stop()
	g.mu.Lock()
	ctxErr = w.ctx.end()
	latency = g.clock.Now().Sub(start)
	return err, ctxErr, latency, panicked
}

func (w *worker) protect(fn func(ctx context.Context) error) (err error, panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			err, panicked = panicError("uplink", v), true
		}
	}()
	return fn(&w.ctx), false
}

func (w *worker) sendFrameFn(ctx context.Context) error {
	return w.g.deps.Uplink.SendFrame(ctx, w.cur.f, w.cur.lane)
}

// sendOne delivers w.cur; g.mu is held on entry and exit.
func (w *worker) sendOne() {
	g := w.g
	var evs *eventBuf
	var buf eventBuf
	if g.onEvent != nil {
		evs = &buf
	}
	err, ctxErr, lat, panicked := w.call(g.cfg.UplinkTimeout, w.sendFn)
	g.recordCall(evs, &w.cur.f, w.cur.lane, err, ctxErr, lat, panicked, 0)
	if evs != nil {
		g.mu.Unlock()
		g.emit(evs)
		g.mu.Lock()
	}
}

// recordCall classifies one uplink call: timeout if its deadline fired
// (whatever it returned), else error, else success. gen is non-zero for a
// whole-batch call, which is reported by EventHeldFlushComplete rather than
// as a per-frame success.
func (g *Gate) recordCall(evs *eventBuf, f *Frame, lane Lane, err, ctxErr error, lat time.Duration, panicked bool, gen uint64) error {
	if panicked {
		g.m.UplinkPanics++
	}
	var code Code
	switch {
	case ctxErr == context.DeadlineExceeded:
		g.m.UplinksTimedOut++
		code = CodeUplinkTimeout
		err = &Error{Code: CodeUplinkTimeout, Err: err}
	case err != nil:
		g.m.UplinksErrored++
		code = CodeUplinkError
		err = &Error{Code: CodeUplinkError, Err: err}
	case gen == 0:
		g.m.UplinksSucceeded++
		g.m.TotalUplinkLatency += lat
	}
	if evs != nil {
		e := Event{
			At: g.clock.Now(), StreamLabel: g.cfg.StreamLabel,
			SessionID: f.SessionID, StreamID: f.StreamID, SpeakerID: f.SpeakerID, Seq: f.Seq,
			Lane: lane, Latency: lat, Err: err, Generation: gen,
		}
		if code != "" {
			e.Type, e.Code = EventError, code
			evs.add(e)
			e.Code = ""
		}
		if gen == 0 {
			e.Type = EventUplinkResult
			evs.add(e)
		}
	}
	return err
}

// sendBatch delivers a held batch; g.mu is held on entry and exit.
func (w *worker) sendBatch(b *batch) {
	g := w.g
	defer g.held.recycle(b)
	if !g.held.start(b) {
		g.m.StaleFlushes++
		return
	}
	defer func() { g.held.inFlight-- }()

	var evs *eventBuf
	var buf eventBuf
	if g.onEvent != nil {
		evs = &buf
	}
	var failed bool
	var total time.Duration
	if bu, ok := g.deps.Uplink.(BatchUplink); ok {
		timeout := g.cfg.batchTimeout()
		err, ctxErr, lat, panicked := w.call(timeout, func(ctx context.Context) error {
			return bu.SendBatch(ctx, b.view, b.lane, b.gen)
		})
		total = lat
		if err := g.recordCall(evs, &b.view[0], b.lane, err, ctxErr, lat, panicked, b.gen); err != nil {
			failed = true
		}
		g.m.TotalBatchUplinkLatency += lat
	} else {
		for i := range b.view {
			if g.closed {
				failed = true
				break
			}
			f := &b.view[i]
			err, ctxErr, lat, panicked := w.call(g.cfg.UplinkTimeout, func(ctx context.Context) error {
				return g.deps.Uplink.SendFrame(ctx, *f, b.lane)
			})
			total += lat
			if g.recordCall(evs, f, b.lane, err, ctxErr, lat, panicked, 0) != nil {
				failed = true
			}
			if evs != nil && evs.n >= len(evs.ev)-1 {
				g.mu.Unlock()
				g.emit(evs)
				g.mu.Lock()
			}
		}
	}
	if failed {
		g.m.HeldFlushFailures++
	} else {
		g.m.HeldFlushes++
		g.m.HeldFlushFrames += uint64(len(b.view))
		if evs != nil {
			evs.add(Event{
				Type: EventHeldFlushComplete, At: g.clock.Now(), StreamLabel: g.cfg.StreamLabel,
				Lane: b.lane, Generation: b.gen, Frames: len(b.view), Latency: total,
			})
		}
	}
	if evs != nil {
		g.mu.Unlock()
		g.emit(evs)
		g.mu.Lock()
	}
}
