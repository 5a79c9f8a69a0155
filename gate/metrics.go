package gate

import "time"

// Metrics are the gate's counters (CONTRACT.md#gate-counters): the reference list, then what this gate adds.
// They only grow until ResetMetrics.
type Metrics struct {
	FramesTotal                    uint64 // microphone frames offered to ProcessFrame
	FramesSpeechDetected           uint64 // user speech (speech that is not echo)
	FramesSilenceDetected          uint64 // no speech
	FramesDroppedSilence           uint64 // silence outside the hangover
	FramesDroppedInvalid           uint64 // failed validation
	FramesDroppedGateClosed        uint64 // offered after Close
	FramesDroppedQueueBackpressure uint64 // uplink queue full (any policy, evictions included)
	HeldFramesAccepted             uint64 // pushed into the held buffer
	HeldFramesDropped              uint64 // held buffer full (any policy, evictions included)
	HeldFlushes                    uint64 // held batches delivered
	HeldFlushFrames                uint64 // frames in delivered held batches
	FramesAdmittedImmediate        uint64 // handed to an idle uplink slot at once
	FramesQueued                   uint64 // waited in the uplink queue
	UplinksSucceeded               uint64 // single-frame uplink calls that succeeded
	UplinksErrored                 uint64 // uplink calls that failed (batches included)
	UplinksTimedOut                uint64 // uplink calls that timed out (batches included)
	TotalUplinkLatency             time.Duration
	SpeechStartEvents              uint64 // user turns started (first speech frame after the last turn ended)
	SpeechEndEvents                uint64 // user turns ended (hangover ran out, or Close)
	BarrierBlockedFrames           uint64 // speech/hangover frames met by a closed barrier
	LaneResolutionFailures         uint64 // lane resolver errors and panics

	// Beyond the reference list.
	FramesEcho              uint64 // echo of the far end (no user speech), dropped
	FarEndFrames            uint64 // far-end reference frames fed to detectors
	FarEndFramesInvalid     uint64 // far-end frames that failed validation
	FramesDroppedBarrier    uint64 // dropped at a closed barrier (DropDuringAssistantPlayback)
	Interruptions           uint64 // barge-ins admitted under BargeInAdmit
	BargeInFramesAdmitted   uint64 // frames admitted through a closed barrier
	BargeInPreRollFrames    uint64 // echo-flagged frames sent ahead of a barge-in
	HeldFlushFailures       uint64 // held batches whose delivery failed or timed out
	HeldFramesDiscarded     uint64 // held frames lost to Close or to lane failure
	StaleFlushes            uint64 // batches skipped by the flush generation guard
	UplinkPanics            uint64 // uplink calls that panicked (also UplinksErrored)
	ObserverPanics          uint64 // listener calls that panicked
	PlaybackProbeFailures   uint64 // playback probe panics (treated as "not playing")
	EventsLost              uint64 // events beyond the per-call event budget
	BarrierForcedOpens      uint64 // barrier closures ended by MaxBarrierClosed
	TotalBatchUplinkLatency time.Duration
}

// Snapshot is a consistent view of the gate at one instant.
type Snapshot struct {
	Closed          bool
	TurnState       TurnState
	QueueDepth      int
	Inflight        int
	PendingBatches  int
	FlushInProgress bool
	Held            HeldSnapshot
	Barrier         BarrierSnapshot
	FarEndSeen      bool
	Streams         int
	// NoiseFloorDB is the noise floor of the stream of the latest
	// microphone frame (StreamNoise.FloorDB; 0 before the first frame).
	NoiseFloorDB float32
	// Noise describes, per stream that has had microphone frames, what its
	// detector hears as background.
	Noise            []StreamNoise
	AvgUplinkLatency time.Duration
	Metrics          Metrics
	Config           Config
}

// HeldSnapshot describes the held audio buffer.
type HeldSnapshot struct {
	Frames          int
	Duration        time.Duration
	FlushGeneration uint64
}

// Snapshot returns the gate's state and counters. It calls the playback
// probe, as the contract says.
func (g *Gate) Snapshot() Snapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock.Now()
	s := Snapshot{
		Closed:          g.closed,
		TurnState:       g.turn.state,
		QueueDepth:      g.queue.n,
		Inflight:        g.inflight,
		PendingBatches:  len(g.held.ready),
		FlushInProgress: g.held.inFlight > 0,
		Held: HeldSnapshot{
			Frames:          g.held.cur.r.n,
			Duration:        g.held.cur.r.dur,
			FlushGeneration: g.held.gen,
		},
		Barrier:    g.barrier.snapshot(now, g.probeLocked()),
		FarEndSeen: g.farEndSeen,
		Streams:    len(g.streams),
		Metrics:    g.m,
		Config:     g.cfg,
	}
	for _, st := range g.streams {
		if n, ok := st.noise(); ok {
			s.Noise = append(s.Noise, n)
			if st == g.lastMic {
				s.NoiseFloorDB = n.FloorDB
			}
		}
	}
	if g.m.UplinksSucceeded > 0 {
		s.AvgUplinkLatency = g.m.TotalUplinkLatency / time.Duration(g.m.UplinksSucceeded)
	}
	return s
}

// Metrics returns a copy of the counters.
func (g *Gate) Metrics() Metrics {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m
}

// ResetMetrics zeroes every counter; state is untouched.
func (g *Gate) ResetMetrics() {
	g.mu.Lock()
	g.m = Metrics{}
	g.mu.Unlock()
}
