package voice

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/inferflow/inferflow/gate"
	"github.com/inferflow/inferflow/internal/realtimemodel"
)

// Audio formats of the session: the gate and the model uplink take 16 kHz
// microphone frames, playout and the far-end reference run at 16 kHz too
// (the model loop resamples its audio), all in 20 ms frames.
const (
	MicRate       = 16000
	PlayoutRate   = 16000
	FrameDuration = 20 * time.Millisecond
	micSamples    = MicRate / 50
	playSamples   = PlayoutRate / 50
	micStreamID   = "mic"
	callerID      = "caller"
	assistantID   = "assistant"
)

// Config tunes a session. Zero values take the defaults in brackets.
type Config struct {
	SessionID string
	// WorkflowID of the session's durable record, told to the caller so a
	// page can link to it; optional.
	WorkflowID string
	// Gate configures the speech gate. A live call defaults BargeIn to
	// admit: a caller who talks over the assistant interrupts it.
	Gate gate.Config
	// MaxPlayout bounds the assistant audio buffered ahead of playout [30s].
	MaxPlayout time.Duration
	// ReserveTimeout bounds the wait for a billing hold before a response
	// [2s]; past it the response goes ahead and is billed after the fact.
	ReserveTimeout time.Duration
	// FiguresEvery is how often the caller gets the gate's figures [250ms].
	FiguresEvery time.Duration
	// SnapshotEvery is how often the workflow gets a gate snapshot [5s].
	SnapshotEvery time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.SessionID == "" {
		return c, errors.New("voice: Config.SessionID is required")
	}
	if c.Gate.BargeIn == "" {
		c.Gate.BargeIn = gate.BargeInAdmit
	}
	if c.MaxPlayout == 0 {
		c.MaxPlayout = 30 * time.Second
	}
	if c.ReserveTimeout == 0 {
		c.ReserveTimeout = 2 * time.Second
	}
	if c.FiguresEvery == 0 {
		c.FiguresEvery = 250 * time.Millisecond
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 5 * time.Second
	}
	for name, d := range map[string]time.Duration{"MaxPlayout": c.MaxPlayout, "ReserveTimeout": c.ReserveTimeout, "FiguresEvery": c.FiguresEvery, "SnapshotEvery": c.SnapshotEvery} {
		if d < 10*time.Millisecond {
			return c, fmt.Errorf("voice: Config.%s %v must be at least 10ms", name, d)
		}
	}
	return c, nil
}

// GateObserver follows the gates of a process for its metrics
// (gate/gateprom.Collector); optional.
type GateObserver interface {
	Add(g *gate.Gate)
	Remove(g *gate.Gate)
}

// Deps are the session's collaborators; all but Observer and Logger are
// required.
type Deps struct {
	Mic      FrameSource
	Speaker  AudioSink
	Events   EventSink
	Model    realtimemodel.Upstream
	Recorder Recorder
	Observer GateObserver
	Logger   *zap.Logger
}

// Session is one call. Create it with New, run it with Run.
type Session struct {
	cfg   Config
	deps  Deps
	log   *zap.Logger
	g     *gate.Gate
	play  *playout
	start time.Time

	// gateEvents carries the gate's events to the control loop; the gate
	// calls OnEvent on the audio path, so a full channel drops (counted).
	gateEvents chan gate.Event
	// modelEvents carries lifecycle events of the model to the control
	// loop (audio goes straight to playout).
	modelEvents chan realtimemodel.ServerEvent

	// muted is the model response id whose audio is discarded after a
	// barge-in cancelled it.
	muted atomic.Pointer[string]

	stats stats
	// reports are the goroutines telling the caller what a response cost.
	reports sync.WaitGroup

	viewMu sync.Mutex
	view   View
}

// View is what GET on the session returns: the live state of the call.
type View struct {
	SessionID   string  `json:"sessionId"`
	State       string  `json:"state"`
	Turns       int     `json:"turns"`
	Responses   int     `json:"responses"`
	Interrupted int     `json:"interruptions"`
	Refused     int     `json:"refused"`
	Figures     Figures `json:"figures"`
	Stats       Stats   `json:"stats"`
}

// New builds a session and its gate. It starts nothing: Run does.
func New(cfg Config, deps Deps) (*Session, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if deps.Mic == nil || deps.Speaker == nil || deps.Events == nil || deps.Model == nil || deps.Recorder == nil {
		return nil, errors.New("voice: Deps.Mic, Speaker, Events, Model and Recorder are required")
	}
	s := &Session{
		cfg:         cfg,
		deps:        deps,
		log:         deps.Logger,
		play:        newPlayout(int(cfg.MaxPlayout / FrameDuration * playSamples)),
		gateEvents:  make(chan gate.Event, 256),
		modelEvents: make(chan realtimemodel.ServerEvent, 64),
		view:        View{SessionID: cfg.SessionID, State: "starting"},
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.log = s.log.With(zap.String("sessionId", cfg.SessionID))
	cfg.Gate.StreamLabel = cfg.SessionID
	g, err := gate.New(cfg.Gate, gate.Deps{
		Uplink:         gate.UplinkFunc(s.uplink),
		PlaybackActive: s.play.active,
		OnEvent:        s.onGateEvent,
	})
	if err != nil {
		return nil, fmt.Errorf("voice: gate: %w", err)
	}
	s.g = g
	return s, nil
}

// Gate returns the session's gate (for snapshots and tests).
func (s *Session) Gate() *gate.Gate { return s.g }

// uplink sends one admitted frame to the model; the gate bounds the call.
func (s *Session) uplink(ctx context.Context, f gate.Frame, _ gate.Lane) error {
	if err := s.deps.Model.SendAudio(ctx, f.Int16); err != nil {
		s.stats.modelSendFailures.Add(1)
		return err
	}
	return nil
}

func (s *Session) onGateEvent(e gate.Event) {
	if o, ok := s.deps.Observer.(interface{ ObserveEvent(gate.Event) }); ok {
		o.ObserveEvent(e)
	}
	switch e.Type {
	case gate.EventStateTransition, gate.EventInterruption, gate.EventTurnEnded, gate.EventBarrierForcedOpen:
	default:
		return
	}
	select {
	case s.gateEvents <- e:
	default:
		s.stats.controlDropped.Add(1)
	}
}

func (s *Session) sinceStart(t time.Time) time.Duration { return t.Sub(s.start) }

// Run runs the call until ctx ends, the caller's media ends or the model
// connection fails, then cancels any response in flight, closes the gate,
// records the end and returns why the call ended. Every goroutine it
// started has ended when it returns.
func (s *Session) Run(ctx context.Context) error {
	s.start = time.Now()
	if s.deps.Observer != nil {
		s.deps.Observer.Add(s.g)
		// Remove wants the gate closed, so its final counters are folded in.
		defer func() { _ = s.g.Close(); s.deps.Observer.Remove(s.g) }()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var wg sync.WaitGroup
	run := func(name string, loop func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := loop(ctx); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	run("caller media", s.micLoop)
	run("playout", s.playoutLoop)
	run("model", s.modelLoop)

	s.setState("active")
	s.send(Message{Type: MsgSessionStarted, SessionID: s.cfg.SessionID, WorkflowID: s.cfg.WorkflowID})
	c := newControl(s)
	c.loop(ctx)

	cause := context.Cause(ctx)
	c.finish(cause)
	_ = s.g.Close()
	wg.Wait()
	s.reports.Wait()
	s.setState("closed")
	if errors.Is(cause, context.Canceled) {
		return nil
	}
	return cause
}

// micLoop runs the caller's frames through the gate.
func (s *Session) micLoop(ctx context.Context) error {
	for {
		f, err := s.deps.Mic.NextFrame(ctx)
		if err != nil {
			return err
		}
		if f.Concealed {
			s.stats.framesConcealed.Add(1)
		}
		out, err := s.g.ProcessFrame(gate.Frame{
			SessionID:  s.cfg.SessionID,
			StreamID:   micStreamID,
			SpeakerID:  callerID,
			SampleRate: MicRate,
			Duration:   FrameDuration,
			Int16:      f.PCM,
			Timestamp:  f.Timestamp,
		})
		if err != nil && !errors.Is(err, gate.ErrClosed) {
			s.stats.framesRejected.Add(1)
		}
		switch out.Action {
		case gate.Admitted, gate.Queued, gate.Held:
			s.stats.turnFrames.Add(1)
		}
		if !f.Arrival.IsZero() {
			s.stats.decision.observe(time.Since(f.Arrival))
		}
	}
}

// playoutLoop plays 20 ms of assistant audio per tick and feeds the same
// frame to the gate as its far-end reference, so the caller's echo of it
// never opens a turn.
func (s *Session) playoutLoop(ctx context.Context) error {
	t := time.NewTicker(FrameDuration)
	defer t.Stop()
	frame := make([]int16, playSamples)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !s.play.next(frame) {
			continue
		}
		if err := s.deps.Speaker.WriteFrame(frame); err != nil {
			s.stats.playoutFailures.Add(1)
		}
		_ = s.g.ProcessFarEnd(gate.Frame{
			SessionID: s.cfg.SessionID, StreamID: micStreamID, SpeakerID: assistantID,
			SampleRate: PlayoutRate, Duration: FrameDuration, Int16: frame,
		})
		s.g.MarkPlaybackActivity()
	}
}

// modelLoop feeds the model's events to the gate's barrier, its audio to
// playout, and the rest to the control loop.
func (s *Session) modelLoop(ctx context.Context) error {
	events := s.deps.Model.Events()
	// The model speaks at its service rate; playout and the far-end
	// reference run at PlayoutRate. One stateful resampler for the call, so
	// chunk edges resample like the whole stream.
	rs := realtimemodel.NewResampler(realtimemodel.ServiceRate, PlayoutRate)
	var pcm []int16
	for {
		var ev realtimemodel.ServerEvent
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case ev, ok = <-events:
		}
		if !ok {
			err := s.deps.Model.Err()
			if err == nil {
				err = errors.New("model connection closed")
			}
			return err
		}
		// The event is parsed already: hand the gate its type and response
		// id rather than having it parse the JSON (audio deltas are large).
		s.g.HandleServerEvent(gate.ServerEvent{Type: ev.Type, ResponseID: ev.ResponseID()})
		if d, isAudio := ev.Value.(*realtimemodel.ResponseOutputAudioDelta); isAudio {
			if m := s.muted.Load(); m == nil || *m != d.ResponseID {
				pcm = rs.Process(pcm[:0], d.Audio)
				s.play.append(pcm)
			}
			continue
		}
		select {
		case s.modelEvents <- ev:
		case <-ctx.Done():
			return nil
		}
	}
}

func (s *Session) setState(state string) {
	s.viewMu.Lock()
	s.view.State = state
	s.viewMu.Unlock()
}

// View returns the call's live state.
func (s *Session) View() View {
	s.viewMu.Lock()
	v := s.view
	s.viewMu.Unlock()
	v.Figures = s.figures(s.g.Snapshot())
	v.Stats = s.stats.snapshot()
	return v
}

func (s *Session) figures(snap gate.Snapshot) Figures {
	m := snap.Metrics
	return Figures{
		TurnState:      string(snap.TurnState),
		BarrierClosed:  snap.Barrier.Closed,
		Admitted:       m.FramesAdmittedImmediate + m.FramesQueued + m.BargeInFramesAdmitted,
		Held:           m.HeldFramesAccepted,
		Dropped:        m.FramesDroppedSilence + m.FramesDroppedQueueBackpressure + m.HeldFramesDropped + m.FramesEcho + m.FramesDroppedBarrier + m.FramesDroppedInvalid,
		Echo:           m.FramesEcho,
		SpeechStarts:   m.SpeechStartEvents,
		SpeechFrames:   m.FramesSpeechDetected,
		Interruptions:  m.Interruptions,
		NoiseFloorDB:   float64(snap.NoiseFloorDB),
		FramesTotal:    m.FramesTotal,
		FramesConceal:  s.stats.framesConcealed.Load(),
		PlayoutFrames:  s.play.frames.Load(),
		ModelSendFails: s.stats.modelSendFailures.Load(),
	}
}
