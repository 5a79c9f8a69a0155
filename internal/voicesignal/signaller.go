// Package voicesignal is the realtime voice process's side of the durable
// VoiceSession workflow: a Signaller per call that delivers the session's
// signals in order without ever blocking the call, and asks the workflow
// for a response's billing hold.
//
// The realtime process is a Temporal client only. When Temporal is
// unreachable the call goes on: signals wait in a bounded buffer (the least
// useful dropped first, and counted) and are delivered in order once
// Temporal is back; a hold cannot be asked for, so ReserveResponse returns
// ErrUnavailable and the workflow bills that response after the fact.
//
// A session started with an owner (the realtime process's instance id) holds
// a lease: the workflow closes it ORPHANED when nothing arrived for the lease
// window. The Signaller renews it with a keep-alive signal only when it has
// delivered nothing else for KeepAliveEvery, so a busy call adds no history.
package voicesignal

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
)

// Client is the part of go.temporal.io/sdk/client.Client a Signaller uses.
type Client interface {
	SignalWithStartWorkflow(ctx context.Context, workflowID string, signalName string, signalArg any,
		options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error)
	SignalWorkflow(ctx context.Context, workflowID string, runID string, signalName string, arg any) error
	NewWithStartWorkflowOperation(options client.StartWorkflowOptions, workflow any, args ...any) client.WithStartWorkflowOperation
	UpdateWithStartWorkflow(ctx context.Context, options client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error)
}

var _ Client = client.Client(nil)

// Errors callers branch on.
var (
	// ErrUnavailable: Temporal (or the workflow) did not answer in time. The
	// call goes on; the response is billed after the fact.
	ErrUnavailable = errors.New("voicesignal: temporal unavailable")
	// ErrRejected: the workflow refused the request (e.g. the response is
	// already done, or the session is closing): a caller bug, not a
	// billing refusal (that is ReserveResponseResult.OK == false).
	ErrRejected = errors.New("voicesignal: request rejected by the session")
	// ErrClosed: the Signaller is closed, or the session-closed signal was sent.
	ErrClosed = errors.New("voicesignal: signaller closed")
	// ErrInvalid: a nil or unknown signal, or a bad request.
	ErrInvalid = errors.New("voicesignal: invalid signal or request")
	// ErrNotFlushed: Close ran out of time with signals undelivered.
	ErrNotFlushed = errors.New("voicesignal: signals not delivered before close")
)

// Defaults and bounds of Config.
const (
	DefaultBuffer        = 256
	MaxBuffer            = 4096
	DefaultSendTimeout   = 5 * time.Second
	DefaultUpdateTimeout = 2 * time.Second
	DefaultMinBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff    = 5 * time.Second
	maxTimeout           = time.Minute
)

// Config configures a Signaller. Zero durations and sizes take defaults.
type Config struct {
	Client    Client
	TaskQueue string // the worker's task queue, for the start
	// Session is the workflow input: session id, billed user, model, options.
	Session workflows.VoiceSessionInput
	// Buffer bounds the signals waiting for delivery.
	Buffer int
	// SendTimeout bounds one signal RPC; UpdateTimeout bounds ReserveResponse.
	SendTimeout   time.Duration
	UpdateTimeout time.Duration
	// OwnerIndexed sets the VoiceOwner search attribute at start, for
	// CloseOrphans; only when the namespace has it (a start naming an
	// unknown attribute fails).
	OwnerIndexed bool
	// KeepAliveEvery is how long the Signaller stays silent before it sends
	// a keep-alive, for a session with an owner [a third of its lease; at
	// most half of it]. Without an owner there is no lease and none is sent.
	KeepAliveEvery time.Duration
	// MinBackoff and MaxBackoff bound the wait between delivery attempts
	// while Temporal is unreachable (doubling, with jitter).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *zap.Logger
}

func (c *Config) validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("no Temporal client"))
	}
	if c.TaskQueue == "" {
		errs = append(errs, errors.New("no task queue"))
	}
	if err := c.Session.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Session.Carry != nil {
		errs = append(errs, errors.New("session input must not carry state"))
	}
	if c.Buffer == 0 {
		c.Buffer = DefaultBuffer
	}
	if c.Buffer < 2 || c.Buffer > MaxBuffer {
		errs = append(errs, fmt.Errorf("buffer %d out of range [2, %d]", c.Buffer, MaxBuffer))
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.SendTimeout, DefaultSendTimeout}, {&c.UpdateTimeout, DefaultUpdateTimeout},
		{&c.MinBackoff, DefaultMinBackoff}, {&c.MaxBackoff, DefaultMaxBackoff}} {
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < 0 || *d.v > maxTimeout {
			errs = append(errs, fmt.Errorf("duration %s out of range (0, %s]", *d.v, maxTimeout))
		}
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	if c.Session.Owner == "" {
		if c.KeepAliveEvery != 0 {
			errs = append(errs, errors.New("keep-alives need a session owner"))
		}
	} else if lease, err := c.Session.OwnerLease(); err == nil {
		if c.KeepAliveEvery == 0 {
			c.KeepAliveEvery = lease / 3
		}
		if c.KeepAliveEvery < 0 || c.KeepAliveEvery > lease/2 {
			errs = append(errs, fmt.Errorf("keep-alive every %s out of range (0, %s]: half the owner lease", c.KeepAliveEvery, lease/2))
		}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return errors.Join(errs...)
}

// Stats are a Signaller's counters.
type Stats struct {
	Sent      uint64 // signals delivered
	Retried   uint64 // delivery attempts that failed and were retried
	Dropped   uint64 // signals dropped because the buffer was full
	Coalesced uint64 // gate snapshots replaced by a newer one before delivery
	Failed    uint64 // signals Temporal refused for good (e.g. invalid)
	// KeepAlives is the keep-alives delivered (the owner lease renewed
	// while the call sent nothing else).
	KeepAlives uint64
	Pending    int // signals not yet delivered
}

// Signaller delivers one session's signals, in order, from one goroutine it
// owns (started by New, ended by Close).
type Signaller struct {
	cfg        Config
	workflowID string
	log        *zap.Logger

	mu          sync.Mutex
	queue       []workflows.VoiceSignal // waiting, oldest first
	inflight    bool                    // the delivery goroutine holds one signal
	seq         uint64
	closedSent  bool // a SessionClosed was accepted
	closing     bool // Close was called
	started     bool // the workflow is known to exist
	unreachable bool // the last delivery attempt failed
	// lastContact is when the workflow last heard from this Signaller (a
	// signal delivered, a reserve-response answered); zero before the
	// first, and after a keep-alive found the workflow ended.
	lastContact time.Time
	stats       Stats

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// New validates cfg and starts the delivery goroutine. Close ends it.
func New(cfg Config) (*Signaller, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("voicesignal: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Signaller{cfg: cfg, workflowID: workflows.VoiceSessionWorkflowID(cfg.Session.SessionID),
		log:  cfg.Logger.With(zap.String("sessionId", cfg.Session.SessionID)),
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go s.run()
	return s, nil
}

// Send queues a signal for delivery and returns at once; it never blocks
// on Temporal. It takes ownership of sig: it numbers it (Seq) and stamps
// its time if unset. When the buffer is full the least useful waiting
// signal is dropped (see dropRank) and counted; session-closed never is.
// After session-closed or Close, Send returns ErrClosed.
func (s *Signaller) Send(sig workflows.VoiceSignal) error {
	if sig == nil || dropRank(sig) < 0 {
		return fmt.Errorf("%w: %T", ErrInvalid, sig)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closedSent || s.closing {
		return ErrClosed
	}
	s.enqueue(sig)
	return nil
}

// enqueue adds sig under s.mu.
func (s *Signaller) enqueue(sig workflows.VoiceSignal) {
	s.seq++
	m := sig.Meta()
	m.Seq = s.seq
	if m.At.IsZero() {
		m.At = time.Now().UTC()
	}
	if _, ok := sig.(*workflows.SessionClosed); ok {
		s.closedSent = true
	}
	// A gate snapshot replaces the one still waiting: only the last matters.
	if _, ok := sig.(*workflows.GateSnapshot); ok {
		for i, q := range s.queue {
			if _, ok := q.(*workflows.GateSnapshot); ok {
				s.queue = append(s.queue[:i], s.queue[i+1:]...)
				s.stats.Coalesced++
				break
			}
		}
	}
	if len(s.queue) >= s.cfg.Buffer && !s.dropOne(sig) {
		return // sig itself was the one to drop
	}
	s.queue = append(s.queue, sig)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// dropRank orders what a full buffer gives up first: snapshots and
// keep-alives (the next one says as much), then turn, interruption and response-started records,
// then response-done (dropping one leaves its usage unbilled and its hold to
// be released at close). Session-closed is never dropped. -1 is not a known
// signal.
func dropRank(sig workflows.VoiceSignal) int {
	switch sig.(type) {
	case *workflows.GateSnapshot, *workflows.KeepAlive:
		return 0
	case *workflows.TurnStarted, *workflows.TurnEnded, *workflows.Interruption, *workflows.ResponseStarted:
		return 1
	case *workflows.ResponseDone:
		return 2
	case *workflows.SessionClosed:
		return 3
	}
	return -1
}

const neverDrop = 3

// dropOne makes room for incoming by dropping the oldest waiting signal of
// the lowest rank, or incoming itself when it ranks lower than everything
// waiting. It reports whether incoming may be queued.
func (s *Signaller) dropOne(incoming workflows.VoiceSignal) bool {
	victim, rank := -1, neverDrop
	for i, q := range s.queue {
		if r := dropRank(q); r < rank {
			victim, rank = i, r
		}
	}
	if in := dropRank(incoming); in < rank && in < neverDrop {
		s.dropped(incoming)
		return false
	}
	if victim < 0 {
		// Only session-closed waits and incoming is another: cannot happen
		// (one session-closed per Signaller), but never exceed the bound.
		s.dropped(incoming)
		return false
	}
	s.dropped(s.queue[victim])
	s.queue = append(s.queue[:victim], s.queue[victim+1:]...)
	return true
}

func (s *Signaller) dropped(sig workflows.VoiceSignal) {
	s.stats.Dropped++
	lvl := s.log.Warn
	if _, ok := sig.(*workflows.ResponseDone); ok {
		lvl = s.log.Error // its usage will not be billed
	}
	lvl("Voice signal dropped: buffer full while Temporal is unreachable",
		zap.String("signal", string(sig.SignalName())), zap.Uint64("seq", sig.Meta().Seq),
		zap.Uint64("dropped", s.stats.Dropped), zap.Int("buffer", s.cfg.Buffer))
}

// Stats returns the counters.
func (s *Signaller) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Pending = len(s.queue)
	if s.inflight {
		st.Pending++
	}
	return st
}

// run is the delivery goroutine: one signal at a time, in order, retried
// with backoff until delivered, refused for good, or the Signaller closed.
func (s *Signaller) run() {
	defer close(s.done)
	backoff := s.cfg.MinBackoff
	for {
		sig, ok := s.next()
		if !ok {
			return
		}
		failures := 0
		for {
			err := s.deliver(sig)
			if errors.Is(err, errSessionEnded) {
				s.ended()
				break
			}
			if err == nil {
				s.delivered(sig, failures)
				backoff = s.cfg.MinBackoff
				break
			}
			if permanent(err) {
				s.failed(sig, err)
				break
			}
			failures++
			s.retrying(sig, err, failures)
			if !s.sleep(jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, s.cfg.MaxBackoff)
		}
	}
}

// next takes the oldest waiting signal; it reports false when the
// Signaller is closing with nothing left, or cancelled.
func (s *Signaller) next() (workflows.VoiceSignal, bool) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			sig := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.inflight = true
			s.mu.Unlock()
			return sig, true
		}
		closing := s.closing
		var ka workflows.VoiceSignal
		var wait time.Duration
		if !closing {
			if ka, wait = s.keepAlive(); ka != nil {
				s.inflight = true
			}
		}
		s.mu.Unlock()
		if closing {
			return nil, false
		}
		if ka != nil {
			return ka, true
		}
		if !s.wait(wait) {
			return nil, false
		}
	}
}

// wait blocks until a signal is queued, d has passed (d > 0), or the
// Signaller is cancelled (false).
func (s *Signaller) wait(d time.Duration) bool {
	var due <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		due = t.C
	}
	select {
	case <-s.wake:
	case <-due:
	case <-s.ctx.Done():
		return false
	}
	return true
}

// keepAlive returns a numbered keep-alive when one is due (nothing
// delivered for KeepAliveEvery), else how long until one is (0: none will
// be, e.g. no owner, nothing delivered yet, or session-closed sent). Under
// s.mu, with the queue empty.
func (s *Signaller) keepAlive() (workflows.VoiceSignal, time.Duration) {
	if s.cfg.KeepAliveEvery == 0 || s.lastContact.IsZero() || s.closedSent {
		return nil, 0
	}
	now := time.Now()
	if wait := s.lastContact.Add(s.cfg.KeepAliveEvery).Sub(now); wait > 0 {
		return nil, wait
	}
	s.seq++
	return &workflows.KeepAlive{VoiceSignalMeta: workflows.VoiceSignalMeta{Seq: s.seq, At: now.UTC()}}, 0
}

func (s *Signaller) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// errSessionEnded: a keep-alive found the workflow ended. A keep-alive has
// nothing to record, so it never starts the workflow again; the call's next
// record does.
var errSessionEnded = errors.New("voicesignal: session workflow not running")

// deliver sends one signal: with signal-with-start until the workflow is
// known to exist (and again if it has ended, e.g. by inactivity), except a
// keep-alive.
func (s *Signaller) deliver(sig workflows.VoiceSignal) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.SendTimeout)
	defer cancel()
	name := string(sig.SignalName())
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	_, keepAlive := sig.(*workflows.KeepAlive)
	if started || keepAlive {
		err := s.cfg.Client.SignalWorkflow(ctx, s.workflowID, "", name, sig)
		var notFound *serviceerror.NotFound
		if !errors.As(err, &notFound) {
			return err
		}
		if keepAlive {
			return errSessionEnded
		}
		s.log.Info("Voice session workflow not running; starting it again", zap.String("workflowId", s.workflowID))
	}
	_, err := s.cfg.Client.SignalWithStartWorkflow(ctx, s.workflowID, name, sig, s.startOptions(), workflows.VoiceSession, s.cfg.Session)
	s.mu.Lock()
	s.started = err == nil
	s.mu.Unlock()
	return err
}

func (s *Signaller) startOptions() client.StartWorkflowOptions {
	sa := []temporal.SearchAttributeUpdate{workflows.VoiceUserKey.ValueSet(s.cfg.Session.UserID),
		workflows.VoiceStateKey.ValueSet(string(workflows.VoiceActive))}
	if s.cfg.OwnerIndexed && s.cfg.Session.Owner != "" {
		sa = append(sa, workflows.VoiceOwnerKey.ValueSet(s.cfg.Session.Owner))
	}
	return client.StartWorkflowOptions{
		ID:                    s.workflowID,
		TaskQueue:             s.cfg.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(sa...),
		StaticSummary:         "voice session " + s.cfg.Session.SessionID,
	}
}

func (s *Signaller) delivered(sig workflows.VoiceSignal, afterFailures int) {
	s.mu.Lock()
	s.stats.Sent++
	if _, ok := sig.(*workflows.KeepAlive); ok {
		s.stats.KeepAlives++
	}
	s.inflight, s.unreachable = false, false
	s.lastContact = time.Now()
	s.mu.Unlock()
	if afterFailures > 0 {
		s.log.Info("Temporal reachable again; voice signals delivered", zap.Int("failedAttempts", afterFailures))
	}
}

// ended stops keep-alives until the next record restarts the workflow.
func (s *Signaller) ended() {
	s.mu.Lock()
	s.inflight, s.unreachable, s.started = false, false, false
	s.lastContact = time.Time{}
	s.mu.Unlock()
	s.log.Info("Voice session workflow ended; keep-alives stop", zap.String("workflowId", s.workflowID))
}

func (s *Signaller) retrying(sig workflows.VoiceSignal, err error, failures int) {
	s.mu.Lock()
	s.stats.Retried++
	s.unreachable = true
	pending := len(s.queue) + 1
	s.mu.Unlock()
	if failures == 1 { // once per outage, not per attempt
		s.log.Warn("Temporal unreachable; voice signals wait and are retried", zap.String("signal", string(sig.SignalName())),
			zap.Int("pending", pending), zap.Error(err))
	}
}

func (s *Signaller) failed(sig workflows.VoiceSignal, err error) {
	s.mu.Lock()
	s.stats.Failed++
	s.inflight, s.unreachable = false, false
	s.mu.Unlock()
	s.log.Error("Voice signal refused by Temporal; dropped", zap.String("signal", string(sig.SignalName())),
		zap.Uint64("seq", sig.Meta().Seq), zap.Error(err))
}

// permanent reports errors a retry cannot fix.
func permanent(err error) bool {
	var invalid *serviceerror.InvalidArgument
	var denied *serviceerror.PermissionDenied
	var ns *serviceerror.NamespaceNotFound
	return errors.As(err, &invalid) || errors.As(err, &denied) || errors.As(err, &ns)
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1) // uniform in [d/2, d]
}

// ReserveResponse asks the session for the billing hold of a response
// before it is generated; it blocks at most the update timeout. The call
// branches on the result:
//
//   - err == nil, OK: respond (billed against the hold).
//   - err == nil, !OK: no credits (Reason): do not respond.
//   - ErrUnavailable: Temporal did not answer; respond, the session bills
//     the response when its response-done arrives.
//
// While deliveries are failing it returns ErrUnavailable at once, so an
// outage costs the call no latency.
func (s *Signaller) ReserveResponse(ctx context.Context, req workflows.ReserveResponseRequest) (workflows.ReserveResponseResult, error) {
	var res workflows.ReserveResponseResult
	if err := wire.ValidateID("responseId", req.ResponseID); err != nil {
		return res, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	s.mu.Lock()
	closed, unreachable := s.closing || s.closedSent, s.unreachable
	s.mu.Unlock()
	if closed {
		return res, ErrClosed
	}
	if unreachable {
		return res, fmt.Errorf("%w: signal delivery is failing", ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.UpdateTimeout)
	defer cancel()
	start := s.startOptions()
	// Update-with-start requires a conflict policy; the session may be
	// running already (its first signal delivered) or not.
	start.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	h, err := s.cfg.Client.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: s.cfg.Client.NewWithStartWorkflowOperation(start, workflows.VoiceSession, s.cfg.Session),
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     req.ResponseID, // a retry is the same update
			UpdateName:   workflows.UpdateReserveResponse,
			Args:         []any{req},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err == nil {
		err = h.Get(ctx, &res)
	}
	if err != nil {
		return workflows.ReserveResponseResult{}, s.updateError(req, err)
	}
	s.mu.Lock()
	s.lastContact = time.Now() // the update renewed the lease too
	s.mu.Unlock()
	return res, nil
}

func (s *Signaller) updateError(req workflows.ReserveResponseRequest, err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		s.log.Error("reserve-response rejected by the session", zap.String("responseId", req.ResponseID), zap.Error(err))
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	s.log.Warn("reserve-response unanswered; the response goes on unheld", zap.String("responseId", req.ResponseID), zap.Error(err))
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// Close sends session-closed if the session has not, delivers what it can
// within ctx, and stops the delivery goroutine. It returns ErrNotFlushed
// (with the count) if signals were left undelivered.
func (s *Signaller) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		if !s.closedSent {
			s.enqueue(&workflows.SessionClosed{Reason: "signaller closed"})
		}
		s.closing = true
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
	st := s.Stats()
	if st.Pending > 0 {
		s.log.Error("Voice signals not delivered before close", zap.Int("pending", st.Pending), zap.Uint64("sent", st.Sent))
		return fmt.Errorf("%w: %d pending", ErrNotFlushed, st.Pending)
	}
	return nil
}

// querier is the part of client.Client that Summary needs; a Client
// without it (a test fake) has no summary.
type querier interface {
	QueryWorkflow(ctx context.Context, workflowID string, runID string, queryType string, args ...any) (converter.EncodedValue, error)
}

// Summary asks the session's workflow for its summary query, within the
// update timeout. It is for what the caller is shown (what a response was
// charged, the balance), never for the audio path.
func (s *Signaller) Summary(ctx context.Context) (workflows.VoiceSummary, error) {
	var sum workflows.VoiceSummary
	q, ok := s.cfg.Client.(querier)
	if !ok {
		return sum, fmt.Errorf("%w: the client cannot query", ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.UpdateTimeout)
	defer cancel()
	v, err := q.QueryWorkflow(ctx, s.workflowID, "", workflows.QuerySummary)
	if err == nil {
		err = v.Get(&sum)
	}
	if err != nil {
		return sum, fmt.Errorf("%w: summary: %v", ErrUnavailable, err)
	}
	return sum, nil
}
