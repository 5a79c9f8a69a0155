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

// heldAudio is everything the gate keeps back while the assistant talks:
// the batch being filled, drained batches waiting for an uplink worker, the
// flush generations and the barge-in pre-roll. Its methods only move frames
// and numbers; the gate decides policy, counts and reports.
type heldAudio struct {
	maxFrames int
	maxDur    time.Duration

	cur   *batch   // filling while the barrier is closed
	free  []*batch // recycled batches, so steady-state flushing does not allocate
	ready []*batch // drained, waiting for a worker, oldest first

	gen            uint64 // last flush generation handed out
	highestStarted uint64 // highest generation a worker has started
	inFlight       int    // batches being sent

	// preroll: the last echo-flagged frames of a closed barrier, sent ahead
	// of a barge-in that follows them (Config.BargeInPreRoll).
	preroll ring
}

func newHeldAudio(maxFrames int, maxDur time.Duration, prerollSlots int) heldAudio {
	h := heldAudio{maxFrames: maxFrames, maxDur: maxDur, preroll: newRing(prerollSlots)}
	h.cur = h.newBatch()
	return h
}

// frames is the number of frames in the batch being filled.
func (h *heldAudio) frames() int { return h.cur.r.n }

func (h *heldAudio) newBatch() *batch {
	if n := len(h.free); n > 0 {
		b := h.free[n-1]
		h.free = h.free[:n-1]
		return b
	}
	return &batch{r: newRing(h.maxFrames), view: make([]Frame, 0, h.maxFrames)}
}

// recycle keeps a couple of drained batches (and their sample buffers) for
// reuse.
func (h *heldAudio) recycle(b *batch) {
	b.r.clear()
	clear(b.view)
	b.view = b.view[:0]
	b.gen, b.lane, b.order = 0, "", 0
	if len(h.free) < 2 {
		h.free = append(h.free, b)
	}
}

// over reports whether one more frame of duration d would exceed a bound.
func (h *heldAudio) over(d time.Duration) bool {
	r := &h.cur.r
	return r.n >= h.maxFrames || r.dur+d > h.maxDur
}

// take swaps the filled batch for an empty one and gives it the next flush
// generation; nil when nothing is held.
func (h *heldAudio) take() *batch {
	b := h.cur
	if b.r.n == 0 {
		return nil
	}
	h.cur = h.newBatch()
	h.gen++
	b.gen = h.gen
	return b
}

// popReady removes the oldest drained batch.
func (h *heldAudio) popReady() *batch {
	b := h.ready[0]
	copy(h.ready, h.ready[1:])
	h.ready[len(h.ready)-1] = nil
	h.ready = h.ready[:len(h.ready)-1]
	return b
}

// start marks a batch as being sent; false when its generation (or a later
// one) was started already, so the batch must not be sent.
func (h *heldAudio) start(b *batch) bool {
	if b.gen <= h.highestStarted {
		return false
	}
	h.highestStarted = b.gen
	h.inFlight++
	return true
}

// discard empties the filling batch and the drained ones (Close); it
// returns how many frames were lost.
func (h *heldAudio) discard() int {
	n := h.cur.r.n
	h.cur.r.clear()
	for _, b := range h.ready {
		n += b.r.n
	}
	h.ready = nil
	h.preroll.clear()
	return n
}

// holdLocked puts a frame into the held buffer under the overflow policy.
func (g *Gate) holdLocked(evs *eventBuf, f *Frame, lane Lane, out *Outcome) error {
	h := &g.held
	d := f.Duration
	if g.cfg.OverflowPolicy == Reject && h.over(d) {
		g.m.HeldFramesDropped++
		out.Action, out.Reason = Rejected, ReasonHeldOverflow
		return ErrHeldFull
	}
	for h.cur.r.n > 0 && h.over(d) {
		if g.cfg.OverflowPolicy != DropOldest {
			g.m.HeldFramesDropped++
			out.Action, out.Reason = Dropped, ReasonHeldOverflow
			return nil
		}
		g.m.HeldFramesDropped++
		g.evicted(evs, &h.cur.r.front().f, ReasonHeldOverflow)
		h.cur.r.pop()
	}
	h.cur.r.push(d).store(f, lane, 0)
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
	b := g.held.take()
	if b == nil {
		return
	}
	if ref == nil {
		ref = &b.r.front().f
	}
	lane, err := g.resolveLane(evs, LaneRequest{Frame: *ref, IsSpeech: true, Speaking: true, ReplayedFromHoldBuffer: true})
	if err != nil {
		g.m.HeldFramesDiscarded += uint64(b.r.n)
		g.held.recycle(b)
		g.notifyProgressLocked()
		return
	}
	b.lane = lane
	g.order++
	b.order = g.order
	for i := 0; i < b.r.n; i++ {
		b.view = append(b.view, b.r.at(i).f)
	}
	g.held.ready = append(g.held.ready, b)
	g.work.Signal()
}

// keepPreRollLocked keeps an echo-flagged frame of a closed barrier as
// possible pre-roll of a barge-in, evicting the oldest beyond
// BargeInPreRoll; false when pre-roll is off.
func (g *Gate) keepPreRollLocked(f *Frame) bool {
	r := &g.held.preroll
	if len(r.slots) == 0 || f.Duration > g.cfg.BargeInPreRoll {
		return false
	}
	for r.n == len(r.slots) || (r.n > 0 && r.dur+f.Duration > g.cfg.BargeInPreRoll) {
		r.pop()
	}
	r.push(f.Duration).store(f, "", 0)
	return true
}

// releasePreRollLocked moves the pre-roll into the held buffer at the start
// of a barge-in, so it reaches the uplink ahead of the barge-in frame,
// whether that frame is held (BargeInHold) or the held audio is flushed
// first (BargeInAdmit).
func (g *Gate) releasePreRollLocked(evs *eventBuf) {
	var scratch Outcome
	r := &g.held.preroll
	for i := 0; i < r.n; i++ {
		s := r.at(i)
		if g.holdLocked(evs, &s.f, DefaultLane, &scratch) == nil && scratch.Action == Held {
			g.m.BargeInPreRollFrames++
		}
	}
	r.clear()
}
