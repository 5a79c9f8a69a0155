package gate

// enqueueLocked hands an admitted frame to the uplink: at once when a slot
// is idle and nothing waits (Admitted), else through the bounded queue
// (Queued) under the overflow policy.
func (g *Gate) enqueueLocked(evs *eventBuf, f *Frame, lane Lane, why Reason, out *Outcome) error {
	immediate := g.queue.n == 0 && len(g.held.ready) == 0 && g.inflight < g.cfg.MaxConcurrentUplinks
	if g.queue.n >= g.cfg.MaxQueueDepth {
		switch g.cfg.OverflowPolicy {
		case DropOldest:
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
	if immediate {
		g.m.FramesAdmittedImmediate++
		out.Action = Admitted
	} else {
		g.m.FramesQueued++
		out.Action = Queued
	}
	out.Reason = why
	g.work.Signal()
	return nil
}
