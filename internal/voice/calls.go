package voice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/inferflow/inferflow/internal/codec"
	"github.com/inferflow/inferflow/internal/realtimemodel"
	"github.com/inferflow/inferflow/internal/rtc"
	"github.com/inferflow/inferflow/internal/voicesignal"
	"github.com/inferflow/inferflow/workflows"
)

// CallsConfig configures the realtime process's calls.
type CallsConfig struct {
	// RTC configures signalling and peer connections (tokens, limits,
	// network).
	RTC rtc.Config
	// Session is the template of every call's session (SessionID is set
	// per call).
	Session Config
	// JitterDelay sizes the inbound jitter buffer [60ms].
	JitterDelay time.Duration
	// TaskQueue is the worker's task queue, where VoiceSession runs.
	TaskQueue string
	// ModelID is the catalog model each response is billed as.
	ModelID string
	// Owner is this process's instance id, recorded by each call's session
	// as its owner; with it the session holds a lease of OwnerLease [60s]
	// and closes ORPHANED, releasing its holds, when the process is gone.
	// Empty: no lease (the session waits for its inactivity timeout).
	Owner      string
	OwnerLease time.Duration
	// OwnerIndexed, once true, has each new call's session started with the
	// VoiceOwner search attribute (voicesignal.CloseOrphans finds it after
	// a restart); the process sets it when its own sweep found the
	// attribute registered. Nil: never.
	OwnerIndexed *atomic.Bool
	// Temporal is the client the records and holds go through. A lazy
	// client lets calls go on while Temporal is down.
	Temporal voicesignal.Client
	// NewModel opens the realtime model connection of one call.
	NewModel func(ctx context.Context, sessionID string) (realtimemodel.Upstream, error)
	// Observer follows every call's gate (Prometheus); optional.
	Observer GateObserver
	// CloseTimeout bounds how long a call's end waits to deliver its last
	// records to Temporal [10s]; what is left is counted and logged.
	CloseTimeout time.Duration
	Logger       *zap.Logger
}

// CallView is what GET on a call returns: the session's live state, the
// jitter buffer's counters, the delivery of its records and the peer's
// transport counters.
type CallView struct {
	View
	Receiver codec.ReceiverStats `json:"receiver"`
	Signals  voicesignal.Stats   `json:"signals"`
	Peer     rtc.Stats           `json:"peer"`
}

// Calls accepts WHIP calls and runs one Session per call.
type Calls struct {
	cfg    CallsConfig
	log    *zap.Logger
	rtc    *rtc.Server
	active atomic.Int64
	total  atomic.Uint64
}

// NewCalls validates cfg and prepares the signalling server.
func NewCalls(cfg CallsConfig) (*Calls, error) {
	if cfg.Temporal == nil || cfg.NewModel == nil {
		return nil, errors.New("voice: CallsConfig.Temporal and NewModel are required")
	}
	if cfg.TaskQueue == "" {
		return nil, errors.New("voice: CallsConfig.TaskQueue is required")
	}
	if cfg.CloseTimeout == 0 {
		cfg.CloseTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if _, err := cfg.sessionInput("probe", "probe").OwnerLease(); err != nil {
		return nil, fmt.Errorf("voice: session owner: %w", err)
	}
	// The session's own checks, with a placeholder id, so a bad template
	// fails at start rather than on the first call.
	probe := cfg.Session
	probe.SessionID = "probe"
	if _, err := probe.withDefaults(); err != nil {
		return nil, err
	}
	c := &Calls{cfg: cfg, log: cfg.Logger}
	srv, err := rtc.NewServer(cfg.RTC, c.run)
	if err != nil {
		return nil, err
	}
	c.rtc = srv
	return c, nil
}

// Handler serves WHIP at rtc.WHIPPath.
func (c *Calls) Handler() http.Handler {
	mux := http.NewServeMux()
	h := c.rtc.Handler()
	mux.Handle(rtc.WHIPPath, h)
	mux.Handle(rtc.WHIPPath+"/", h)
	return mux
}

// Active returns the number of calls in progress.
func (c *Calls) Active() int64 { return c.active.Load() }

// Close refuses new calls, ends every call and waits until each has
// recorded its end.
func (c *Calls) Close(ctx context.Context) error { return c.rtc.Close(ctx) }

// run is one call, from the answered offer to its end.
func (c *Calls) run(ctx context.Context, peer *rtc.Session) {
	c.active.Add(1)
	defer c.active.Add(-1)
	c.total.Add(1)
	log := c.log.With(zap.String("sessionId", peer.ID()), zap.String("userId", peer.UserID()))
	if err := c.call(ctx, peer, log); err != nil {
		log.Warn("call ended", zap.Error(err))
		return
	}
	log.Info("call ended", zap.String("reason", peer.Reason()))
}

func (c *Calls) call(ctx context.Context, peer *rtc.Session, log *zap.Logger) error {
	in, err := peer.InboundCodec(ctx)
	if err != nil {
		return fmt.Errorf("no microphone track: %w", err)
	}
	mic, err := NewMic(peer, in.MimeType, c.cfg.JitterDelay)
	if err != nil {
		peer.SendEvent(errorMessage(err))
		return err
	}
	speaker, err := NewSpeaker(peer)
	if err != nil {
		return err
	}
	model, err := c.cfg.NewModel(ctx, peer.ID())
	if err != nil {
		peer.SendEvent(errorMessage(fmt.Errorf("the realtime model is unavailable: %w", err)))
		return fmt.Errorf("realtime model: %w", err)
	}
	defer model.Close()

	signals, err := voicesignal.New(voicesignal.Config{
		Client:    c.cfg.Temporal,
		TaskQueue: c.cfg.TaskQueue,
		Session:   c.cfg.sessionInput(peer.ID(), peer.UserID()),
		// Read per call: sessions started before the restart sweep has
		// finished are not indexed, so the sweep never closes one of them.
		OwnerIndexed: c.cfg.OwnerIndexed != nil && c.cfg.OwnerIndexed.Load(),
		Logger:       log,
	})
	if err != nil {
		return err
	}
	defer func() {
		// The call is over; its last records still go to Temporal, within
		// a bound, from a context the call's end does not cancel.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.CloseTimeout)
		defer cancel()
		if err := signals.Close(ctx); err != nil {
			log.Warn("session records not all delivered", zap.Error(err), zap.Any("signals", signals.Stats()))
		}
	}()

	cfg := c.cfg.Session
	cfg.SessionID = peer.ID()
	cfg.WorkflowID = workflows.VoiceSessionWorkflowID(peer.ID())
	sess, err := New(cfg, Deps{Mic: mic, Speaker: speaker, Events: peer, Model: model,
		Recorder: Signals{S: signals}, Observer: c.cfg.Observer, Logger: log})
	if err != nil {
		return err
	}
	peer.SetSnapshot(func() any {
		return CallView{View: sess.View(), Receiver: mic.Stats(), Signals: signals.Stats(), Peer: peer.Stats()}
	})
	log.Info("call started", zap.String("codec", in.MimeType))
	err = sess.Run(ctx)
	if errors.Is(err, context.Canceled) || errors.Is(err, rtc.ErrClosed) {
		return nil
	}
	return err
}

// sessionInput is the VoiceSession input of one call.
func (c CallsConfig) sessionInput(sessionID, userID string) workflows.VoiceSessionInput {
	in := workflows.VoiceSessionInput{SessionID: sessionID, UserID: userID, ModelID: c.ModelID, Owner: c.Owner}
	if c.Owner != "" && c.OwnerLease != 0 {
		in.Options = &workflows.VoiceOptions{OwnerLeaseMs: int(c.OwnerLease.Milliseconds())}
	}
	return in
}

func errorMessage(err error) []byte {
	return []byte(fmt.Sprintf(`{"type":%q,"reason":%q}`, MsgSessionEnded, err.Error()))
}
