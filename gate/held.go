package gate

import "time"

// batch is held audio: filled while the playback barrier is closed, then
// handed as a whole to the uplink with a flush generation number. A batch is
// drained exactly once (under the gate's lock) and the uplink worker skips
// any generation it has already started, so held audio is never replayed.
type batch struct {
	r     ring
	view  []Frame // r in order, built at drain time for the uplink
	gen   uint64
	lane  Lane
	order uint64
}

func (g *Gate) newBatch() *batch {
	if n := len(g.freeBatches); n > 0 {
		b := g.freeBatches[n-1]
		g.freeBatches = g.freeBatches[:n-1]
		return b
	}
	return &batch{r: newRing(g.cfg.MaxHeldFrames), view: make([]Frame, 0, g.cfg.MaxHeldFrames)}
}

// recycleBatch keeps a couple of drained batches (and their sample buffers)
// for reuse so steady-state flushing does not allocate.
func (g *Gate) recycleBatch(b *batch) {
	b.r.clear()
	clear(b.view)
	b.view = b.view[:0]
	b.gen, b.lane, b.order = 0, "", 0
	if len(g.freeBatches) < 2 {
		g.freeBatches = append(g.freeBatches, b)
	}
}

func (g *Gate) heldOver(d time.Duration) bool {
	h := &g.held.r
	return h.n >= g.cfg.MaxHeldFrames || h.dur+d > g.cfg.MaxHoldBuffer
}

// holdLocked puts a frame into the held buffer under the overflow policy.
func (g *Gate) holdLocked(evs *eventBuf, f *Frame, lane Lane, out *Outcome) error {
	d := f.Duration
	if g.cfg.OverflowPolicy == Reject && g.heldOver(d) {
		g.m.HeldFramesDropped++
		out.Action, out.Reason = Rejected, ReasonHeldOverflow
		return ErrHeldFull
	}
	for g.held.r.n > 0 && g.heldOver(d) {
		if g.cfg.OverflowPolicy != DropOldest {
			g.m.HeldFramesDropped++
			out.Action, out.Reason = Dropped, ReasonHeldOverflow
			return nil
		}
		g.m.HeldFramesDropped++
		g.evicted(evs, &g.held.r.front().f, ReasonHeldOverflow)
		g.held.r.pop()
	}
	g.held.r.push(d).store(f, lane, 0)
	g.m.HeldFramesAccepted++
	out.Action, out.Reason = Held, ReasonBarrier
	return nil
}

// evicted reports a frame lost after it had been accepted.
func (g *Gate) evicted(evs *eventBuf, f *Frame, why Reason) {
	if evs == nil {
		return
	}
	evs.add(Event{
		Type: EventFrameDropped, At: g.clock.Now(), StreamLabel: g.cfg.StreamLabel,
		SessionID: f.SessionID, StreamID: f.StreamID, SpeakerID: f.SpeakerID, Seq: f.Seq,
		Reason: string(why),
	})
}

// drainHeldLocked turns the held buffer into a batch for the uplink. ref is
// the frame the lane is resolved for (nil: the first held frame).
func (g *Gate) drainHeldLocked(evs *eventBuf, ref *Frame) {
	b := g.held
	if b.r.n == 0 {
		return
	}
	g.held = g.newBatch()
	g.flushGen++
	b.gen = g.flushGen
	if ref == nil {
		ref = &b.r.front().f
	}
	lane, err := g.resolveLane(evs, LaneRequest{Frame: *ref, IsSpeech: true, Speaking: true, ReplayedFromHoldBuffer: true})
	if err != nil {
		g.m.HeldFramesDiscarded += uint64(b.r.n)
		g.recycleBatch(b)
		g.notifyProgressLocked()
		return
	}
	b.lane = lane
	g.order++
	b.order = g.order
	for i := 0; i < b.r.n; i++ {
		b.view = append(b.view, b.r.at(i).f)
	}
	g.batches = append(g.batches, b)
	g.work.Signal()
}
