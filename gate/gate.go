package gate

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Deps are the gate's collaborators.
type Deps struct {
	// Uplink receives admitted frames and held batches. Required.
	Uplink Uplink
	// ResolveLane picks a lane per frame/batch; nil means DefaultLane.
	ResolveLane LaneFunc
	// PlaybackActive, if set, reports whether assistant audio is playing
	// right now; while it returns true the barrier stays closed. It runs
	// under the gate's lock: keep it fast, do not call back into the gate.
	PlaybackActive func() bool
	// OnEvent receives observability events, after the gate's lock is
	// released (it may call Snapshot). A panic in it is counted and ignored.
	// It may run on the caller's goroutine or on an uplink goroutine; it must
	// not call Close.
	OnEvent func(Event)
	// Clock defaults to SystemClock.
	Clock Clock
}

// probePoll is how often a waiting Flush, or the barrier timer, re-reads the
// playback probe, which has no way to tell the gate it changed.
const probePoll = 20 * time.Millisecond

// Gate is the realtime speech admission gate of one conversation. Its
// methods are safe for concurrent use. Close it to stop its goroutines.
type Gate struct {
	cfg         Config
	deps        Deps
	clock       Clock
	onEvent     func(Event)
	newDetector detectorFactory
	epoch       time.Time

	mu   sync.Mutex
	work sync.Cond // signalled when the queue or batches gain work, or on Close
	wg   sync.WaitGroup

	closed bool
	seq    uint64 // frame numbering
	order  uint64 // FIFO order across queue items and batches
	turn   turn

	streams    []*stream
	lastStream *stream
	lastMic    *stream // stream of the latest microphone frame
	farEndSeen bool

	barrier      barrier
	barrierTimer Timer
	timerArmed   bool
	timerAt      time.Time

	held heldAudio

	// handoff: Admitted frames, each with an uplink slot reserved (counted
	// in inflight), not yet picked up by a worker. Never evicted.
	handoff ring
	// queue: Queued frames waiting for a slot, bounded by MaxQueueDepth.
	queue ring
	// inflight: uplink slots in use, i.e. calls running plus handoff frames.
	inflight int
	workers  []*worker
	progress chan struct{} // closed when work completes; made on demand by waiters

	m Metrics
}

// New returns a running gate. Zero Config fields take the contract's defaults.
func New(cfg Config, deps Deps) (*Gate, error) {
	return newGate(cfg, deps, vadFactory)
}

func newGate(cfg Config, deps Deps, det detectorFactory) (*Gate, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if deps.Uplink == nil {
		return nil, fmt.Errorf("%w: Deps.Uplink is required", ErrInvalidConfig)
	}
	if deps.Clock == nil {
		deps.Clock = SystemClock{}
	}
	g := &Gate{
		cfg:         cfg,
		deps:        deps,
		clock:       deps.Clock,
		onEvent:     deps.OnEvent,
		newDetector: det,
		turn:        newTurn(),
		barrier:     barrier{tailHold: cfg.AssistantTailHold, maxClosed: cfg.MaxBarrierClosed},
		queue:       newRing(cfg.MaxQueueDepth),
		handoff:     newRing(cfg.MaxConcurrentUplinks),
		held:        newHeldAudio(cfg.MaxHeldFrames, cfg.MaxHoldBuffer, int(cfg.BargeInPreRoll/minFrameDuration)),
	}
	g.epoch = g.clock.Now()
	g.work.L = &g.mu
	g.barrierTimer = g.clock.AfterFunc(time.Hour, g.onBarrierTimer)
	g.barrierTimer.Stop()
	g.startWorkers()
	return g, nil
}

// Config returns the effective configuration (defaults filled in).
func (g *Gate) Config() Config { return g.cfg }

// ProcessFrame runs one microphone frame through validation, voice activity
// detection, the turn state machine and the playback barrier, and admits,
// queues, holds or drops it. It never blocks on the uplink. The error is
// non-nil exactly when the Action is Rejected: a *FrameError, ErrClosed,
// ErrQueueFull, ErrHeldFull or a lane failure (*Error).
func (g *Gate) ProcessFrame(f Frame) (Outcome, error) {
	if g.onEvent == nil {
		return g.processFrame(&f, nil)
	}
	var evs eventBuf
	out, err := g.processFrame(&f, &evs)
	g.emit(&evs)
	return out, err
}

func (g *Gate) processFrame(f *Frame, evs *eventBuf) (out Outcome, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seq++
	f.Seq = g.seq
	out.Seq = f.Seq
	g.m.FramesTotal++
	defer g.fillOutcome(&out)
	if g.closed {
		g.m.FramesDroppedGateClosed++
		out.Action, out.Reason = Rejected, ReasonGateClosed
		return out, ErrClosed
	}
	st, err := g.acceptLocked(f, false)
	if err != nil {
		g.m.FramesDroppedInvalid++
		g.frameError(evs, f, err)
		out.Action, out.Reason = Rejected, ReasonInvalidFrame
		return out, err
	}

	now := g.clock.Now()
	at := f.Timestamp
	if at <= 0 {
		at = now.Sub(g.epoch)
	}
	dec := st.det.Process(samples(f, st.micBuf))
	st.micSeen = true
	g.lastMic = st
	out.Decision = dec
	echo := dec.Echo && st.farEndSeen
	out.Echo = echo

	playing := g.probeLocked()
	closed := g.barrierClosedLocked(evs, now, playing)
	if !closed {
		g.barrierOpenLocked(evs, now, playing, f)
	}

	if echo && !g.turn.inHangover(at, g.cfg.Hangover) {
		// The assistant's own voice: never admitted, never held. Inside the
		// hangover of real user speech the frame stays part of the user's
		// turn (a pause between syllables where the echo is as loud as the
		// user), as any other hangover frame.
		g.m.FramesEcho++
		out.Action, out.Reason = Dropped, ReasonEcho
		g.endTurnLocked(evs, f)
		if closed {
			g.transition(evs, StateAssistantBlocked, ReasonAssistantEcho, f)
			if g.keepPreRollLocked(f) {
				out.Reason = ReasonEchoPreRoll
			}
		} else {
			g.transition(evs, StateIdle, ReasonSilenceAfterHang, f)
		}
		return out, nil
	}

	user := dec.Speech && !echo
	if user && closed && st.farEndSeen {
		g.releasePreRollLocked(evs)
	}
	g.held.preroll.clear()
	bargeIn := closed && g.cfg.BargeIn == BargeInAdmit && st.farEndSeen
	if user {
		g.m.FramesSpeechDetected++
		g.startTurnLocked(f, at)
		// Speech held under the barrier goes straight to assistant_blocked
		// below: passing through speaking would flip the state every frame.
		if !closed {
			g.transition(evs, StateSpeaking, ReasonSpeechDetected, f)
		} else if bargeIn {
			g.transition(evs, StateSpeaking, ReasonBargeIn, f)
		}
	} else {
		g.m.FramesSilenceDetected++
	}
	if !user && !g.turn.inHangover(at, g.cfg.Hangover) {
		g.m.FramesDroppedSilence++
		g.endTurnLocked(evs, f)
		g.transition(evs, StateIdle, ReasonSilenceAfterHang, f)
		out.Action, out.Reason = Dropped, ReasonSilence
		return out, nil
	}
	why := ReasonSpeech
	if !user {
		why = ReasonHangover
	}

	lane, err := g.resolveLane(evs, LaneRequest{Frame: *f, IsSpeech: user, Speaking: true, AssistantBlocked: closed})
	if err != nil {
		out.Action, out.Reason = Rejected, ReasonLaneFailed
		return out, err
	}
	out.Lane = lane

	if closed {
		g.m.BarrierBlockedFrames++
		if bargeIn && (user || g.turn.interrupted) {
			return out, g.bargeInLocked(evs, f, lane, user, &out)
		}
		g.transition(evs, StateAssistantBlocked, ReasonAssistantBarrier, f)
		if g.cfg.DropDuringAssistantPlayback {
			g.m.FramesDroppedBarrier++
			out.Action, out.Reason = Dropped, ReasonBarrier
			return out, nil
		}
		err = g.holdLocked(evs, f, lane, &out)
		g.armBarrierTimerLocked(now, playing)
		return out, err
	}

	if user {
		g.transition(evs, StateSpeaking, ReasonSpeechAdmitted, f)
	} else {
		g.transition(evs, StateHangover, ReasonHangoverActive, f)
	}
	return out, g.enqueueLocked(evs, f, lane, why, &out)
}

// bargeInLocked admits user speech over the assistant (BargeInAdmit): the
// first such frame of a barrier closure declares the interruption and
// flushes anything held ahead of it, so order is kept.
func (g *Gate) bargeInLocked(evs *eventBuf, f *Frame, lane Lane, user bool, out *Outcome) error {
	if !g.turn.interrupted {
		g.turn.interrupted = true
		g.m.Interruptions++
		out.Interruption = true
		if evs != nil {
			evs.add(Event{
				Type: EventInterruption, At: g.clock.Now(), StreamLabel: g.cfg.StreamLabel,
				SessionID: f.SessionID, StreamID: f.StreamID, SpeakerID: f.SpeakerID, Seq: f.Seq,
				ResponseID: g.barrier.activeID, Lane: lane, Reason: ReasonBargeIn,
			})
		}
		g.drainHeldLocked(evs, f)
	}
	g.m.BargeInFramesAdmitted++
	if user {
		g.transition(evs, StateSpeaking, ReasonBargeIn, f)
	} else {
		g.transition(evs, StateHangover, ReasonHangoverActive, f)
	}
	return g.enqueueLocked(evs, f, lane, ReasonBargeInAdmitted, out)
}

func (g *Gate) fillOutcome(out *Outcome) {
	out.State = g.turn.state
	out.QueueDepth = g.queue.n
	out.Inflight = g.inflight
	out.HeldFrames = g.held.frames()
}

func (g *Gate) frameError(evs *eventBuf, f *Frame, err error) {
	if evs == nil {
		return
	}
	evs.add(Event{
		Type: EventError, At: g.clock.Now(), StreamLabel: g.cfg.StreamLabel,
		SessionID: f.SessionID, StreamID: f.StreamID, SpeakerID: f.SpeakerID, Seq: f.Seq,
		Code: CodeInvalidFrame, Err: err,
	})
}

// ProcessFarEnd feeds a far-end reference frame (audio the assistant plays,
// on the same timeline as the microphone) to the detector of its stream id.
// From then on the gate drops that stream's echo frames and can tell
// barge-in from echo. Frames are validated like microphone frames.
func (g *Gate) ProcessFarEnd(f Frame) error {
	var evs *eventBuf
	var buf eventBuf
	if g.onEvent != nil {
		evs = &buf
	}
	g.mu.Lock()
	err := g.processFarEndLocked(evs, &f)
	g.mu.Unlock()
	g.emit(evs)
	return err
}

func (g *Gate) processFarEndLocked(evs *eventBuf, f *Frame) error {
	if g.closed {
		return ErrClosed
	}
	st, err := g.acceptLocked(f, true)
	if err != nil {
		g.m.FarEndFramesInvalid++
		g.frameError(evs, f, err)
		return err
	}
	// Copied even when already float: the detector may keep a reference to
	// far-end history, and the caller may reuse its slice.
	far := samples(f, st.farBuf)
	if f.Float32 != nil {
		far = st.farBuf[:copy(st.farBuf, f.Float32)]
	}
	st.det.FarEnd(far)
	st.farEndSeen = true
	g.farEndSeen = true
	g.m.FarEndFrames++
	return nil
}

// HandleServerEvent feeds a realtime server event to the playback barrier.
// Unknown types are ignored. When the barrier opens, held audio is flushed.
func (g *Gate) HandleServerEvent(ev ServerEvent) {
	var evs *eventBuf
	var buf eventBuf
	if g.onEvent != nil {
		evs = &buf
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	now := g.clock.Now()
	change, id := g.barrier.apply(ev, now)
	if evs != nil {
		switch change {
		case barrierCreated:
			evs.add(Event{Type: EventResponseCreated, At: now, StreamLabel: g.cfg.StreamLabel, ResponseID: id})
		case barrierDone:
			evs.add(Event{Type: EventResponseDone, At: now, StreamLabel: g.cfg.StreamLabel, ResponseID: id})
		}
	}
	if change == barrierCreated {
		g.turn.interrupted = false // a new response can be interrupted anew
	}
	g.recheckBarrierLocked(evs, now)
	g.mu.Unlock()
	g.emit(evs)
}

// HandleServerEventJSON parses a realtime server event and handles it.
func (g *Gate) HandleServerEventJSON(data []byte) error {
	ev, err := ParseServerEvent(data)
	if err != nil {
		return err
	}
	g.HandleServerEvent(ev)
	return nil
}

// MarkPlaybackActivity notes assistant playback now (e.g. the player
// reported audio), extending the tail hold.
func (g *Gate) MarkPlaybackActivity() {
	g.mu.Lock()
	if !g.closed {
		now := g.clock.Now()
		g.barrier.closing(now)
		g.barrier.noteActivity(now)
		g.armBarrierTimerLocked(now, g.probeLocked())
	}
	g.mu.Unlock()
}

// recheckBarrierLocked flushes held audio if the barrier is open, else makes
// sure the barrier timer will look again.
func (g *Gate) recheckBarrierLocked(evs *eventBuf, now time.Time) {
	playing := g.probeLocked()
	if g.barrierClosedLocked(evs, now, playing) {
		g.armBarrierTimerLocked(now, playing)
		return
	}
	g.barrierOpenLocked(evs, now, playing, nil)
}

// barrierClosedLocked checks the barrier for the audio path and reports a
// closure that reached MaxBarrierClosed.
func (g *Gate) barrierClosedLocked(evs *eventBuf, now time.Time, playing bool) bool {
	closed, expired := g.barrier.check(now, playing)
	if expired {
		g.m.BarrierForcedOpens++
		if evs != nil {
			evs.add(Event{
				Type: EventBarrierForcedOpen, At: now, StreamLabel: g.cfg.StreamLabel,
				ResponseID: g.barrier.activeID, Reason: ReasonMaxClosedTime,
			})
		}
	}
	return closed
}

// barrierOpenLocked runs when the barrier is seen open: the interruption is
// over, the completed response is forgotten and held audio is flushed once.
func (g *Gate) barrierOpenLocked(evs *eventBuf, now time.Time, playing bool, ref *Frame) {
	g.turn.interrupted = false
	g.held.preroll.clear()
	g.barrier.clearIfOpen(now, playing)
	if g.held.frames() > 0 {
		g.drainHeldLocked(evs, ref)
		g.notifyProgressLocked()
	}
}

// armBarrierTimerLocked makes held audio flush when the tail hold ends even
// if no frame or event arrives then. With a playback probe it polls.
func (g *Gate) armBarrierTimerLocked(now time.Time, playing bool) {
	if g.closed || g.held.frames() == 0 {
		return
	}
	exp, bounded := g.barrier.expiresAt()
	var at time.Time
	if g.barrier.hasActive && !g.barrier.doneSeen {
		// An active response: its response.done will recheck, or else the
		// max closed time will.
		if !bounded {
			return
		}
		at = exp
	} else {
		var ok bool
		at, ok = g.barrier.tailEnd()
		if !ok || !at.After(now) {
			if g.deps.PlaybackActive == nil {
				return // nothing keeps the barrier closed
			}
			at = now
		}
		if g.deps.PlaybackActive != nil && (playing || !at.After(now)) {
			at = now.Add(probePoll)
		}
		if bounded && exp.Before(at) {
			at = exp
		}
	}
	if g.timerArmed && g.timerAt.Equal(at) {
		return
	}
	g.timerArmed, g.timerAt = true, at
	g.barrierTimer.Reset(at.Sub(now))
}

func (g *Gate) onBarrierTimer() {
	var evs *eventBuf
	var buf eventBuf
	if g.onEvent != nil {
		evs = &buf
	}
	g.mu.Lock()
	g.timerArmed = false
	if !g.closed {
		g.recheckBarrierLocked(evs, g.clock.Now())
	}
	g.mu.Unlock()
	g.emit(evs)
}

// probeLocked asks the playback probe; a panic counts as "not playing".
func (g *Gate) probeLocked() (playing bool) {
	if g.deps.PlaybackActive == nil {
		return false
	}
	defer func() {
		if recover() != nil {
			g.m.PlaybackProbeFailures++
			playing = false
		}
	}()
	return g.deps.PlaybackActive()
}

func (g *Gate) notifyProgressLocked() {
	if g.progress != nil {
		close(g.progress)
		g.progress = nil
	}
}

// Flush waits until held, queued and in-flight work is done, flushing held
// audio whenever the barrier is open; it gives up with ctx.Err() when ctx
// ends first (held audio stays held while the barrier is closed).
func (g *Gate) Flush(ctx context.Context) error { return g.wait(ctx, true) }

// Drain waits until queued and in-flight uplink work is done, leaving held
// audio alone. An evaluator driving a ManualClock calls it after each frame
// to make delivery deterministic.
func (g *Gate) Drain(ctx context.Context) error { return g.wait(ctx, false) }

func (g *Gate) wait(ctx context.Context, withHeld bool) error {
	var poll chan struct{}
	var t Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		var evs *eventBuf
		var buf eventBuf
		if g.onEvent != nil {
			evs = &buf
		}
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			return nil
		}
		if withHeld && g.held.frames() > 0 {
			g.recheckBarrierLocked(evs, g.clock.Now())
		}
		idle := g.queue.n == 0 && len(g.held.ready) == 0 && g.inflight == 0 && (!withHeld || g.held.frames() == 0)
		var ch chan struct{}
		needPoll := false
		if !idle {
			if g.progress == nil {
				g.progress = make(chan struct{})
			}
			ch = g.progress
			needPoll = withHeld && g.held.frames() > 0 && g.deps.PlaybackActive != nil
		}
		g.mu.Unlock()
		g.emit(evs)
		if idle {
			return nil
		}
		if needPoll {
			if t == nil {
				poll = make(chan struct{}, 1)
				t = g.clock.AfterFunc(probePoll, func() {
					select {
					case poll <- struct{}{}:
					default:
					}
				})
			} else {
				t.Reset(probePoll)
			}
		}
		select {
		case <-ch:
		case <-poll:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops the gate: admitted frames not yet handed to the uplink,
// queued and held audio are discarded (each reported by EventFrameDropped,
// Reason gate_closed), in-flight uplink calls are cancelled, and Close waits for the gate's goroutines to
// end (so an uplink must honour its context). Later frames are rejected with
// ErrClosed. Close is idempotent and always returns nil.
func (g *Gate) Close() error {
	var evs *eventBuf
	var buf eventBuf
	if g.onEvent != nil {
		evs = &buf
	}
	var lost []Event
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		now := g.clock.Now()
		if evs != nil {
			lost = g.discardEventsLocked(now)
		}
		g.m.HeldFramesDiscarded += uint64(g.held.discard())
		g.inflight -= g.handoff.n
		g.handoff.clear()
		g.queue.clear()
		g.barrierTimer.Stop()
		for _, w := range g.workers {
			w.ctx.cancel(context.Canceled, now)
		}
		g.endTurnLocked(evs, nil)
		g.transition(evs, StateIdle, ReasonGateClosedTransit, nil)
		g.work.Broadcast()
		g.notifyProgressLocked()
	}
	g.mu.Unlock()
	g.emit(evs)
	g.emitAll(lost)
	g.wg.Wait()
	return nil
}

// discardEventsLocked reports, for Close, every frame that was admitted,
// queued or held and will now never reach the uplink.
func (g *Gate) discardEventsLocked(now time.Time) []Event {
	n := g.handoff.n + g.queue.n + g.held.cur.r.n
	for _, b := range g.held.ready {
		n += b.r.n
	}
	if n == 0 {
		return nil
	}
	evs := make([]Event, 0, n)
	add := func(r *ring) {
		for i := 0; i < r.n; i++ {
			f := &r.at(i).f
			evs = append(evs, Event{
				Type: EventFrameDropped, At: now, StreamLabel: g.cfg.StreamLabel,
				SessionID: f.SessionID, StreamID: f.StreamID, SpeakerID: f.SpeakerID, Seq: f.Seq,
				Reason: string(ReasonGateClosed),
			})
		}
	}
	add(&g.handoff)
	add(&g.queue)
	for _, b := range g.held.ready {
		add(&b.r)
	}
	add(&g.held.cur.r)
	return evs
}

// Closed reports whether Close has been called.
func (g *Gate) Closed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}
