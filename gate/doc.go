// Package gate is the realtime speech admission gate: it sits between
// microphone frame extraction and the upstream realtime model, and decides
// frame by frame whether audio is admitted to the model at once, queued
// behind a busy uplink, held while the assistant is talking, or dropped
// (silence, echo, overflow, invalid). It does no network I/O: the caller
// supplies the uplink, and the gate's only goroutines are its uplink workers,
// which end on Close.
//
// # Using it
//
//	g, err := gate.New(gate.Config{}, gate.Deps{Uplink: up})
//	defer g.Close()
//	out, err := g.ProcessFrame(frame)   // per 10-30 ms microphone frame
//	err = g.ProcessFarEnd(played)       // per frame of assistant playback (optional)
//	g.HandleServerEventJSON(raw)        // per realtime server event
//	err = g.Flush(ctx)                  // before ending a turn or the session
//
// A Gate serves one conversation. Frames carry session, stream and speaker
// ids, a sample rate of 8, 16, 24 or 48 kHz, a duration of 10 to 30 ms,
// 16-bit ([]int16) or float ([]float32 in [-1, 1]) mono PCM whose length
// matches rate×duration, and optionally a media Timestamp. Invalid frames
// are rejected with a *FrameError (errors.Is(err, ErrInvalidFrame)) whose
// Reason says what was wrong, and counted; the gate never panics on input.
//
// Voice activity detection is done by package vad, one detector per stream
// id and sample rate; int16 samples are converted into a preallocated
// buffer. ProcessFrame allocates nothing and does not block on the uplink.
// Its Outcome reports the detector's Decision and what happened to the
// frame (Action: admitted, queued, held, dropped or rejected, with a Reason
// and the frame's Seq, which the uplink also sees).
//
// # Turns, barrier and held audio
//
// The turn state machine moves between idle, speaking, hangover (the
// Hangover window after the last speech frame, during which frames are
// still admitted) and assistant_blocked (speech or hangover met by a closed
// barrier; such frames go straight there, never through speaking). A user
// turn runs from its first speech frame until a frame finds its hangover
// over (or Close), whatever the barrier does meanwhile: it counts one
// SpeechStartEvents and one SpeechEndEvents, and its end is reported by
// EventTurnEnded with its length. (The reference counted every entry into and
// exit from speaking instead, so a pause inside the hangover, or speech
// under the barrier, counted again.)
//
// The assistant playback barrier closes on response.created until the
// matching response.done or output_audio_buffer.cleared (responses are
// matched by id), on any output delta for the AssistantTailHold after it,
// and while the optional Deps.PlaybackActive probe reports playback. It is
// never closed longer than MaxBarrierClosed (30 s): a lost response.done or
// a stuck probe would otherwise mute the user for the rest of the call.
// When a closure reaches it the barrier opens by itself
// (EventBarrierForcedOpen, Reason max_closed_time, counted in
// BarrierForcedOpens) and stays open, whatever deltas, tail or probe say,
// until the next response.created. While it is closed, speech and hangover
// frames are held, bounded by MaxHeldFrames and MaxHoldBuffer, and flushed
// to the uplink as one batch when it opens (by an event, a frame, a timer at
// the end of the tail hold or at MaxBarrierClosed, or Flush). Every batch
// carries a flush generation; a batch is drained once and a generation is
// never started twice, so held audio is never replayed.
//
// # Echo and barge-in
//
// Once far-end frames (what the assistant plays) are fed with ProcessFarEnd
// for a stream, that stream's detector flags echo: microphone frames whose
// speech is explained by the far end are dropped (Reason echo) and never
// held or flushed. User speech over the assistant (barge-in) is held and
// flushed by default (BargeInHold); with BargeIn: BargeInAdmit it is
// admitted at once, anything held before it is flushed first, and
// EventInterruption tells the caller to cancel the response. The last
// BargeInPreRoll (100 ms) of echo-flagged audio is kept aside and sent
// ahead of a barge-in, since the detector needs a few frames to tell the
// user from the echo; without a barge-in it is dropped. Echo-flagged frames
// inside the hangover of real user speech stay part of the user's turn.
// Without any far-end reference the gate behaves as the reference behaviour in CONTRACT.md.
//
// # Uplink
//
// Speech and hangover frames go to at most MaxConcurrentUplinks concurrent
// calls of Deps.Uplink, each bounded by UplinkTimeout (a held batch sent
// through a BatchUplink gets max(2×UplinkTimeout, 250ms)). A frame that
// finds a free slot and nothing waiting is Admitted: the slot is its own from
// that moment (Outcome.Inflight counts it), nothing evicts it, and it reaches
// Uplink.SendFrame unless the gate is closed first. Otherwise it is Queued in
// a FIFO of MaxQueueDepth, so a burst holds MaxConcurrentUplinks +
// MaxQueueDepth frames before the overflow policy acts. OverflowPolicy
// (drop_oldest, drop_newest, reject) governs both the full queue and the
// full held buffer; drop_oldest evicts the oldest Queued (or Held) frame and
// reports it with EventFrameDropped before the ProcessFrame call that evicted
// it returns; reject returns ErrQueueFull or ErrHeldFull. Close reports every
// admitted-but-unsent, queued and held frame it discards the same way. Uplink errors, timeouts and panics are
// counted and reported, never fatal. Flush waits for held, queued and
// in-flight work, Drain for queued and in-flight work only; both are bounded
// by their context.
//
// # Configuration
//
// Zero Config fields take the defaults of CONTRACT.md#gate-configuration: Hangover 220ms,
// AssistantTailHold 180ms (and MaxBarrierClosed 30s,
// which must exceed it), MaxHoldBuffer 2200ms, MaxHeldFrames 80,
// UplinkTimeout 120ms, MaxQueueDepth 4, MaxConcurrentUplinks 1,
// OverflowPolicy drop_oldest, BargeIn hold, StreamLabel "default",
// MaxStreams 8. DisableStateTransitionEvents and DropDuringAssistantPlayback
// are the reference's emitStateTransitions=false and
// bufferDuringAssistantPlayback=false.
//
// Deps.Clock injects time (SystemClock by default); ManualClock moves only
// on Advance/Set and fires timers synchronously, so tests and the evaluator
// run the gate in simulated time (call Drain after each frame to make
// uplink delivery deterministic). Deps.ResolveLane picks a Lane per frame;
// its error or panic is counted and reported and the frame is rejected.
// ResolveLane and PlaybackActive run under the gate's lock and must not call
// back into it.
//
// # Events
//
// Deps.OnEvent receives Event values after the gate's lock is released:
// state transitions (with reason and ids), barrier response created/done,
// barrier forced open, held flush complete (generation, frames),
// interruption, uplink result per frame (latency, error), user turn ended
// (duration), frames evicted by drop_oldest or discarded by Close, and
// errors with the contract's codes (INVALID_FRAME, UPLINK_TIMEOUT, UPLINK_ERROR,
// LANE_RESOLUTION_FAILED). A panicking listener is counted (ObserverPanics)
// and never disturbs the audio path. With no listener no event is built.
//
// # Metrics
//
// Metrics holds the contract's counters (frames total, speech, silence, dropped
// silence/invalid/closed/backpressure, held accepted/dropped, flushes and
// flushed frames, admitted at once, queued, uplinks succeeded/errored/timed
// out, total uplink latency, speech start/end, barrier-blocked frames, lane
// failures) and this gate's additions (echo frames, far-end frames,
// interruptions, barge-in frames admitted, flush failures, discarded held
// frames, stale flushes, uplink/observer/probe panics, barrier forced
// opens). SpeechStartEvents and SpeechEndEvents count user turns (see above).
// Snapshot returns them with the turn state, queue, held buffer, barrier,
// each stream's noise floor as its detector tracks it (NoiseFloorDB, Noise),
// average uplink latency and effective config; ResetMetrics zeroes the
// counters. Package gateprom exports the counters and state of all of a
// process's gates to Prometheus.
package gate
