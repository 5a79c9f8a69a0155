package gate

// Lane names the upstream route a frame takes (e.g. a model or priority);
// the gate passes it through to the uplink.
type Lane string

// DefaultLane is used when Deps.ResolveLane is nil.
const DefaultLane Lane = "default"

// LaneRequest is what a lane resolver decides on.
type LaneRequest struct {
	Frame Frame
	// IsSpeech: the frame holds user speech (false in the hangover).
	IsSpeech bool
	// Speaking: speech or hangover.
	Speaking bool
	// AssistantBlocked: the playback barrier is closed.
	AssistantBlocked bool
	// ReplayedFromHoldBuffer: the lane is for a held batch being flushed;
	// Frame is its first frame (or the frame that opened the barrier).
	ReplayedFromHoldBuffer bool
}

// LaneFunc picks a lane. It runs under the gate's lock on the audio path:
// it must be fast and must not call back into the gate. An error or a panic
// is counted (LaneResolutionFailures), reported as EventError, and the frame
// (or batch) is not delivered.
type LaneFunc func(LaneRequest) (Lane, error)

// resolveLane calls the resolver, turning a panic into an error.
func (g *Gate) resolveLane(evs *eventBuf, req LaneRequest) (lane Lane, err error) {
	if g.deps.ResolveLane == nil {
		return DefaultLane, nil
	}
	defer func() {
		if v := recover(); v != nil {
			err = panicError("lane resolver", v)
		}
		if err != nil {
			g.m.LaneResolutionFailures++
			err = &Error{Code: CodeLaneResolutionFailed, Err: err}
			if evs != nil {
				f := &req.Frame
				evs.add(Event{
					Type: EventError, At: g.clock.Now(), StreamLabel: g.cfg.StreamLabel,
					SessionID: f.SessionID, StreamID: f.StreamID, SpeakerID: f.SpeakerID, Seq: f.Seq,
					Code: CodeLaneResolutionFailed, Err: err,
				})
			}
		}
	}()
	return g.deps.ResolveLane(req)
}
