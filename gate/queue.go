package gate

// enqueueLocked hands an admitted frame to the uplink. When an uplink slot
// is free and nothing waits, the frame gets that slot at once (Admitted): it
// is counted in flight from this moment and sits in the hand-off ring, which
// no overflow policy touches, until a worker picks it up. Otherwise it waits
// in the bounded queue (Queued) under the overflow policy, so a burst holds
// up to MaxConcurrentUplinks + MaxQueueDepth frames before anything is lost.
func (g *Gate) enqueueLocked(evs *eventBuf, f *Frame, lane Lane, why Reason, out *Outcome) error {
	if g.queue.n == 0 && len(g.held.ready) == 0 && g.inflight < g.cfg.MaxConcurrentUplinks {
		g.order++
		g.handoff.push(f.Duration).store(f, lane, g.order)
		g.inflight++
		g.m.FramesAdmittedImmediate++
		out.Action, out.Reason = Admitted, why
		g.work.Signal()
		return nil
	}
	if g.queue.n >= g.cfg.MaxQueueDepth {
		switch g.cfg.OverflowPolicy {
		case DropOldest:
			// Only a frame that was reported Queued is evicted, and it is
			// reported again, by event, before this call returns.
			g.m.FramesDroppedQueueBackpressure++
			g.evicted(evs, &g.queue.front().f, ReasonQueueBackpressure)
			g.queue.pop()
		case DropNewest:
			g.m.FramesDroppedQueueBackpressure++
			out.Action, out.Reason = Dropped, ReasonQueueBackpressure
			return nil
		default: // Reject
			g.m.FramesDroppedQueueBackpressure++
			out.Action, out.Reason = Rejected, ReasonQueueBackpressure
			return ErrQueueFull
		}
	}
	g.order++
	g.queue.push(f.Duration).store(f, lane, g.order)
	g.m.FramesQueued++
	out.Action, out.Reason = Queued, why
	g.work.Signal()
	return nil
}
