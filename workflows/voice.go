package workflows

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/wire"
)

// voiceLeaseChange gates the owner lease (version 1): the lease timer, and
// the one timer it shares with the inactivity timeout. Runs before it, and
// sessions without an owner, keep the inactivity timer alone.
const voiceLeaseChange = "voice-owner-lease"

// MaxVoiceOpenResponses bounds the responses a session tracks at once: holds
// asked for and not yet settled.
const MaxVoiceOpenResponses = 64

// VoiceSession is one realtime voice call, started by the realtime process
// with signal-with-start (id VoiceSessionWorkflowID). It records turns,
// responses and interruptions from signals, bills each response through the
// ledger (a hold placed by the reserve-response update before the response
// is generated, then capture or release), answers the summary query, and
// completes when the session-closed signal arrives and its billing has
// settled, after the inactivity timeout, or, for a session with an owner,
// when the owner's lease lapses (the realtime process is gone: ORPHANED). It
// continues as new before its history grows large, carrying its state.
func VoiceSession(ctx workflow.Context, in VoiceSessionInput) (*VoiceSummary, error) {
	set, err := in.settings()
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("invalid voice session input: "+err.Error(), string(wire.CodeVoiceInvalidInput), nil)
	}
	if workflow.GetVersion(ctx, voiceLeaseChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		set.lease = 0
	}
	s := newVoiceSession(ctx, in, set)
	if err := workflow.SetQueryHandler(ctx, QuerySummary, func() (VoiceSummary, error) { return s.summary(), nil }); err != nil {
		return nil, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateReserveResponse, s.reserveResponse,
		workflow.UpdateHandlerOptions{Validator: s.validateReserve}); err != nil {
		return nil, err
	}
	s.syncSearchAttributes(ctx)
	return s.run(ctx)
}

// voiceSession is one run's view of a session.
type voiceSession struct {
	in          VoiceSessionInput
	set         voiceSettings
	st          VoiceCarry
	log         log.Logger
	metrics     client.MetricsHandler
	pending     int // billing coroutines in flight
	closing     bool
	endState    VoiceState
	closeReason string
	runSignals  int       // signals handled by this run
	sentAt      time.Time // sender's time of the signal being handled
}

func newVoiceSession(ctx workflow.Context, in VoiceSessionInput, set voiceSettings) *voiceSession {
	s := &voiceSession{in: in, set: set, endState: VoiceClosed,
		log:     log.With(workflow.GetLogger(ctx), "sessionId", in.SessionID, "userId", in.UserID),
		metrics: workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"modelId": set.modelID})}
	if in.Carry != nil {
		s.st = *in.Carry
	} else {
		s.st.State = VoiceActive
		s.st.LastActivity = workflow.Now(ctx)
	}
	if s.st.Open == nil {
		s.st.Open = map[string]*VoiceResponse{}
	}
	if set.lease > 0 && s.st.LeaseRenewed.IsZero() {
		s.renew(ctx) // a new session, or one carried from a run without the lease
	}
	s.st.Runs++
	// The carry is no longer needed once restored; keep it out of the next
	// run's input twice over.
	s.in.Carry = nil
	return s
}

// voiceChannel decodes one signal name's channel.
type voiceChannel struct {
	ch      workflow.ReceiveChannel
	receive func(workflow.ReceiveChannel) (VoiceSignal, bool)
}

// receiveAs takes one signal of type T without blocking. A payload that does
// not decode is logged and skipped by the SDK.
func receiveAs[T any, P interface {
	*T
	VoiceSignal
}](c workflow.ReceiveChannel) (VoiceSignal, bool) {
	var v T
	if !c.ReceiveAsync(&v) {
		return nil, false
	}
	return P(&v), true
}

func voiceChannels(ctx workflow.Context) []voiceChannel {
	get := func(n VoiceSignalName) workflow.ReceiveChannel { return workflow.GetSignalChannel(ctx, string(n)) }
	// Drained in this order, so unordered (Seq 0) signals put session-closed last.
	return []voiceChannel{
		{get(SignalTurnStarted), receiveAs[TurnStarted]},
		{get(SignalTurnEnded), receiveAs[TurnEnded]},
		{get(SignalResponseStarted), receiveAs[ResponseStarted]},
		{get(SignalResponseDone), receiveAs[ResponseDone]},
		{get(SignalInterruption), receiveAs[Interruption]},
		{get(SignalGateSnapshot), receiveAs[GateSnapshot]},
		{get(SignalKeepAlive), receiveAs[KeepAlive]},
		{get(SignalSessionClosed), receiveAs[SessionClosed]},
	}
}

// drain takes every signal delivered so far, in the sender's order: signals
// of different names arriving in one workflow task would otherwise be seen
// channel by channel.
func drain(chans []voiceChannel) []VoiceSignal {
	var batch []VoiceSignal
	for _, c := range chans {
		for {
			sig, ok := c.receive(c.ch)
			if !ok {
				break
			}
			batch = append(batch, sig)
		}
	}
	sort.SliceStable(batch, func(i, j int) bool { return batch[i].Meta().Seq < batch[j].Meta().Seq })
	return batch
}

func (s *voiceSession) run(ctx workflow.Context) (*VoiceSummary, error) {
	chans := voiceChannels(ctx)
	timer := s.deadlineTimer(ctx)
	for {
		timerFired, cancelled := false, false
		sel := workflow.NewSelector(ctx)
		for _, c := range chans {
			sel.AddReceive(c.ch, func(workflow.ReceiveChannel, bool) {}) // drained below
		}
		sel.AddFuture(timer, func(workflow.Future) { timerFired = true })
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) { cancelled = true })
		sel.Select(ctx)
		// Cancellation also resolves the inactivity timer (with a cancelled
		// error), and the selector may take that first: without this the loop
		// would restart the timer on the cancelled context forever.
		cancelled = cancelled || ctx.Err() != nil

		s.handleBatch(ctx, drain(chans))
		s.showDetails(ctx)
		if cancelled {
			// Billing settles even for a cancelled session.
			dctx, _ := workflow.NewDisconnectedContext(ctx)
			s.beginClose(VoiceClosed, "workflow cancelled")
			sum, _ := s.finish(dctx, chans)
			return sum, temporal.NewCanceledError(sum.CloseReason)
		}
		if timerFired {
			now := workflow.Now(ctx)
			idle, unheard := now.Sub(s.st.LastActivity), now.Sub(s.st.LeaseRenewed)
			switch {
			case s.set.lease > 0 && unheard >= s.set.lease:
				s.leaseLapsed(ctx, unheard)
			case idle >= s.set.inactivity:
				s.beginClose(VoiceTimedOut, fmt.Sprintf("no activity for %s", idle.Round(time.Second)))
			default:
				timer = s.deadlineTimer(ctx)
			}
		}
		if s.closing {
			return s.finish(ctx, chans)
		}
		if s.runSignals >= s.set.signalsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return s.continueAsNew(ctx, chans)
		}
	}
}

// inactivityTimer fires when the session has been idle for the timeout
// since its last activity. One timer is outstanding at a time: activity does
// not restart it; when it fires early the loop starts one for the rest.
func (s *voiceSession) inactivityTimer(ctx workflow.Context) workflow.Future {
	left := s.set.inactivity - workflow.Now(ctx).Sub(s.st.LastActivity)
	return workflow.NewTimerWithOptions(ctx, max(left, time.Millisecond), workflow.TimerOptions{Summary: "inactivity timeout"})
}

// deadlineTimer is the inactivity timer, or, with an owner lease, one timer
// for whichever comes first: the lease's end or the inactivity timeout. A
// signal renews the lease without restarting the timer; when it fires early
// the loop starts one for the rest, so an idle live session costs one timer
// per lease window.
func (s *voiceSession) deadlineTimer(ctx workflow.Context) workflow.Future {
	if s.set.lease == 0 {
		return s.inactivityTimer(ctx)
	}
	now := workflow.Now(ctx)
	left, summary := s.set.inactivity-now.Sub(s.st.LastActivity), "inactivity timeout"
	if lease := s.set.lease - now.Sub(s.st.LeaseRenewed); lease < left {
		left, summary = lease, "owner lease"
	}
	return workflow.NewTimerWithOptions(ctx, max(left, time.Millisecond), workflow.TimerOptions{Summary: summary})
}

func (s *voiceSession) touch(ctx workflow.Context) { s.st.LastActivity = workflow.Now(ctx) }

// renew records that the owner was heard from.
func (s *voiceSession) renew(ctx workflow.Context) {
	if s.set.lease > 0 {
		s.st.LeaseRenewed = workflow.Now(ctx)
	}
}

// leaseLapsed closes a session whose owner went quiet for the lease: the
// realtime process was killed or lost, and no session-closed will come.
func (s *voiceSession) leaseLapsed(ctx workflow.Context, unheard time.Duration) {
	reason := fmt.Sprintf("realtime process lost: nothing from owner %s for %s", s.in.Owner, unheard.Round(time.Millisecond))
	s.event(ctx, "lease-expired", "", "", 0, reason)
	s.log.Warn("Voice session orphaned: owner lease expired", "evt", "VOICE_SESSION_ORPHANED", "owner", s.in.Owner,
		"unheard", unheard, "lease", s.set.lease)
	s.beginClose(VoiceOrphaned, reason)
}

func (s *voiceSession) beginClose(state VoiceState, reason string) {
	if s.closing {
		return
	}
	s.closing, s.endState, s.closeReason = true, state, clip(reason)
}

// quiesce waits for billing and update handlers, handling signals that
// arrive meanwhile, until none is left.
func (s *voiceSession) quiesce(ctx workflow.Context, chans []voiceChannel) {
	for {
		_ = workflow.Await(ctx, func() bool { return s.pending == 0 && workflow.AllHandlersFinished(ctx) })
		batch := drain(chans)
		if len(batch) == 0 {
			return
		}
		s.handleBatch(ctx, batch)
		if s.closing {
			s.settleUnfinished(ctx)
		}
	}
}

// finish settles every response still open (a hold without response-done is
// released), waits for billing, and completes the session.
func (s *voiceSession) finish(ctx workflow.Context, chans []voiceChannel) (*VoiceSummary, error) {
	s.setState(ctx, VoiceClosing)
	s.event(ctx, "closing", "", "", 0, s.closeReason)
	s.log.Info("Voice session closing", "evt", "VOICE_SESSION_CLOSING", "reason", s.closeReason)
	s.settleUnfinished(ctx)
	s.quiesce(ctx, chans)
	s.setState(ctx, s.endState)
	s.event(ctx, "closed", "", "", 0, string(s.endState))
	s.showDetails(ctx)
	s.metrics.WithTags(map[string]string{"state": string(s.endState)}).Counter("voice.session.closed").Inc(1)
	sum := s.summary()
	s.log.Info("Voice session closed", "evt", "VOICE_SESSION_CLOSED", "state", s.endState, "turns", sum.Totals.Turns,
		"responses", sum.Totals.Responses, "billedTotal", sum.Totals.BilledTotal, "billingFailures", sum.Totals.BillingFailures)
	return &sum, nil
}

// continueAsNew hands the state to a fresh run once billing and updates are
// done and no signal is left unhandled.
func (s *voiceSession) continueAsNew(ctx workflow.Context, chans []voiceChannel) (*VoiceSummary, error) {
	s.quiesce(ctx, chans)
	if s.closing {
		return s.finish(ctx, chans)
	}
	s.log.Info("Voice session continuing as new", "evt", "VOICE_SESSION_CONTINUE_AS_NEW", "runSignals", s.runSignals, "runs", s.st.Runs)
	next := s.in
	carry := s.st
	next.Carry = &carry
	return nil, workflow.NewContinueAsNewError(ctx, wire.WorkflowVoiceSession, next)
}

func (s *voiceSession) handleBatch(ctx workflow.Context, batch []VoiceSignal) {
	for _, sig := range batch {
		s.handle(ctx, sig)
	}
}

func (s *voiceSession) handle(ctx workflow.Context, sig VoiceSignal) {
	s.runSignals++
	s.st.Totals.Signals++
	s.renew(ctx) // even a duplicate: the owner is there
	meta := sig.Meta()
	if meta.Seq != 0 {
		if meta.Seq <= s.st.LastSeq {
			s.st.Totals.DuplicateSignals++
			return // a retried send that had already arrived
		}
		s.st.LastSeq = meta.Seq
	}
	if _, ok := sig.(*KeepAlive); ok {
		// The process is alive; the call has done nothing: not activity.
		s.st.Totals.KeepAlives++
		return
	}
	s.touch(ctx)
	s.sentAt = meta.At
	defer func() { s.sentAt = time.Time{} }()
	if err := validateVoiceSignal(sig); err != nil {
		s.st.Totals.InvalidSignals++
		s.log.Warn("Invalid voice signal ignored", "evt", "VOICE_SIGNAL_INVALID", "signal", sig.SignalName(), "error", err.Error())
		s.event(ctx, "invalid-signal", "", "", 0, string(sig.SignalName())+": "+err.Error())
		return
	}
	switch v := sig.(type) {
	case *TurnStarted:
		s.st.Totals.Turns++
		s.st.CurrentTurn = clip(v.TurnID)
		s.event(ctx, "turn-started", v.TurnID, "", 0, "")
	case *TurnEnded:
		if s.st.CurrentTurn == v.TurnID {
			s.st.CurrentTurn = ""
		}
		s.event(ctx, "turn-ended", v.TurnID, "", 0, fmt.Sprintf("%d ms, %d frames admitted", v.DurationMs, v.FramesAdmitted))
	case *ResponseStarted:
		s.event(ctx, "response-started", v.TurnID, v.ResponseID, 0, "")
	case *ResponseDone:
		s.responseDone(ctx, v)
	case *Interruption:
		s.st.Totals.Interruptions++
		s.event(ctx, "interruption", v.TurnID, v.ResponseID, 0, "")
	case *GateSnapshot:
		snap := *v
		snap.TurnState, snap.BarrierState = clip(snap.TurnState), clip(snap.BarrierState)
		s.st.LastSnapshot = &snap
	case *SessionClosed:
		s.event(ctx, "session-closed", "", "", 0, clip(v.Reason))
		if v.Orphaned {
			s.beginClose(VoiceOrphaned, v.Reason)
		} else {
			s.beginClose(VoiceClosed, v.Reason)
		}
	}
}

func (s *voiceSession) responseDone(ctx workflow.Context, v *ResponseDone) {
	t := &s.st.Totals
	u := VoiceUsage{InputTokens: v.Usage.InputTokens, OutputTokens: v.Usage.OutputTokens, TotalTokens: v.Usage.InputTokens + v.Usage.OutputTokens}
	s.event(ctx, "response-done", "", v.ResponseID, 0, fmt.Sprintf("%s, %d in / %d out tokens", v.Status, u.InputTokens, u.OutputTokens))
	if slices.Contains(s.st.Settled, v.ResponseID) {
		// Refused or already billed: nothing more may be charged under its key.
		if v.Status == ResponseCompleted && u.TotalTokens > 0 {
			s.generatedUnbilled(ctx, v.ResponseID)
		}
		return
	}
	r, ok := s.st.Open[v.ResponseID]
	if !ok {
		r = &VoiceResponse{ResponseID: v.ResponseID, Billing: BillingNone}
		s.st.Open[v.ResponseID] = r
	}
	if r.Done {
		t.DuplicateSignals++
		return
	}
	t.Responses++
	switch v.Status {
	case ResponseCompleted:
		t.Completed++
	case ResponseCancelled:
		t.Cancelled++
	case ResponseFailed:
		t.Failed++
	}
	t.InputTokens += int64(u.InputTokens)
	t.OutputTokens += int64(u.OutputTokens)
	r.Done, r.Status, r.Usage, r.Reason = true, v.Status, u, clip(v.Reason)
	if r.Billing == BillingReserving {
		return // the reserve-response handler settles it when its hold is known
	}
	s.startSettle(ctx, r)
}

// generatedUnbilled records a response generated although its hold was
// refused (or it was settled already): a caller bug; nothing more may be
// charged under its key.
func (s *voiceSession) generatedUnbilled(ctx workflow.Context, responseID string) {
	s.st.Totals.BillingFailures++
	s.metrics.WithTags(map[string]string{"op": "settle", "kind": "unbilled"}).Counter("voice.billing.failure").Inc(1)
	s.event(ctx, "unbilled", "", responseID, 0, "response-done for a response already settled or refused")
	s.log.Error("Response done after it was settled or refused: not billed", "evt", "VOICE_RESPONSE_UNBILLED", "responseId", responseID)
}

// settleUnfinished ends every open response that will get no response-done:
// a session closing, or timing out, releases what it still holds.
func (s *voiceSession) settleUnfinished(ctx workflow.Context) {
	for _, id := range s.openIDs() {
		r := s.st.Open[id]
		if r.Done || r.Billing == BillingReserving || r.Billing == BillingSettling {
			continue
		}
		r.Done, r.Status, r.Reason = true, ResponseCancelled, "session ended before response-done"
		s.startSettle(ctx, r)
	}
}

// openIDs lists open responses in a deterministic order (map order is not).
func (s *voiceSession) openIDs() []string {
	return workflow.DeterministicKeys(s.st.Open) // sorted
}

// event appends to the bounded timeline.
func (s *voiceSession) event(ctx workflow.Context, kind, turnID, responseID string, amount int64, detail string) {
	s.st.Timeline = append(s.st.Timeline, VoiceEvent{At: workflow.Now(ctx).UTC(), SentAt: s.sentAt.UTC(), Kind: kind,
		TurnID: clip(turnID), ResponseID: clip(responseID), Amount: amount, Detail: clip(detail)})
	if over := len(s.st.Timeline) - s.set.timeline; over > 0 {
		s.st.Timeline = slices.Delete(s.st.Timeline, 0, over)
		s.st.Dropped += over
	}
}

func (s *voiceSession) summary() VoiceSummary {
	sum := VoiceSummary{SessionID: s.in.SessionID, UserID: s.in.UserID, ModelID: s.set.modelID, Owner: s.in.Owner, State: s.st.State,
		CloseReason: s.closeReason, Totals: s.st.Totals, CurrentTurn: s.st.CurrentTurn, LastSnapshot: s.st.LastSnapshot,
		Timeline: slices.Clone(s.st.Timeline), TimelineDropped: s.st.Dropped, Runs: s.st.Runs, Available: s.st.Available}
	for _, id := range s.openIDs() {
		r := s.st.Open[id]
		sum.OpenResponses = append(sum.OpenResponses, *r)
		if r.Billing == BillingHeld {
			sum.HeldAmount += r.HeldAmount
		}
	}
	if sum.Timeline == nil {
		sum.Timeline = []VoiceEvent{}
	}
	return sum
}

// showDetails sets the line the Web UI shows for the run (no history cost).
func (s *voiceSession) showDetails(ctx workflow.Context) {
	t := s.st.Totals
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("%s · %d turns · %d responses (%d interrupted) · billed %d micro-credits · %d billing failures",
		s.st.State, t.Turns, t.Responses, t.Interruptions, t.BilledTotal, t.BillingFailures))
}

func (s *voiceSession) setState(ctx workflow.Context, st VoiceState) {
	s.st.State = st
	s.syncSearchAttributes(ctx)
}

// syncSearchAttributes upserts VoiceUser and VoiceState when they differ
// from what the run has (the starter sets both at start).
func (s *voiceSession) syncSearchAttributes(ctx workflow.Context) {
	sa := workflow.GetTypedSearchAttributes(ctx)
	user, okUser := sa.GetKeyword(VoiceUserKey)
	state, okState := sa.GetKeyword(VoiceStateKey)
	if okUser && user == s.in.UserID && okState && state == string(s.st.State) {
		return
	}
	// Best effort: a search attribute is for finding runs, never for control.
	_ = workflow.UpsertTypedSearchAttributes(ctx, VoiceUserKey.ValueSet(s.in.UserID), VoiceStateKey.ValueSet(string(s.st.State)))
}

// validateReserve refuses requests that cannot be served: it runs before the
// update is written to history, so a refused request costs nothing.
func (s *voiceSession) validateReserve(_ workflow.Context, req ReserveResponseRequest) error {
	if err := wire.ValidateID("responseId", req.ResponseID); err != nil {
		return err
	}
	if req.TurnID != "" {
		if err := wire.ValidateID("turnId", req.TurnID); err != nil {
			return err
		}
	}
	if req.EstimatedInputTokens < 0 || req.EstimatedInputTokens > wire.MaxTokens {
		return fmt.Errorf("estimatedInputTokens %d out of range [0, %d]", req.EstimatedInputTokens, wire.MaxTokens)
	}
	if s.closing {
		return errors.New("session is closing")
	}
	if slices.Contains(s.st.Settled, req.ResponseID) {
		return fmt.Errorf("response %q is already settled", req.ResponseID)
	}
	r, open := s.st.Open[req.ResponseID]
	if open && r.Done {
		return fmt.Errorf("response %q is already done", req.ResponseID)
	}
	if !open && len(s.st.Open) >= MaxVoiceOpenResponses {
		return fmt.Errorf("%d responses are open, the limit", len(s.st.Open))
	}
	return nil
}
