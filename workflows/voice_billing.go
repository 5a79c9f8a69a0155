package workflows

import (
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/wire"
)

// A voice session bills each response through the saga's billing
// activities (wire.ActivityReserve, Capture, Release, EnqueueDLQ) and hands
// a failed settlement to the Reconcile workflow, all by wire name.

// rebillSuffix keys the second hold of a response whose usage outgrew (or
// outlived) its first, or whose first was released by an earlier run of the
// session: the first key is spent, so a new one is needed. Every second
// billing of a response uses this one key, so the ledger charges it once
// whichever run, or path, asks.
const rebillSuffix = "-rebill"

// voiceLateRebillChange gates (version 1) billing after the fact of a
// response whose hold an earlier run of the session placed and released: a
// session closed (ORPHANED, TIMED_OUT) with the response in flight, and its
// completion started a new run. The new run finds that hold (asking for it
// at the session's hold size when its own key conflicts) and bills the
// usage under the rebill key; before, the response was recorded unbilled.
const voiceLateRebillChange = "voice-late-rebill"

// rebillOn says which capture refusals bill the usage again under the
// rebill key.
type rebillOn int

const (
	rebillNever    rebillOn = iota
	rebillOutgrown          // USAGE_EXCEEDS_RESERVATION, HOLD_EXPIRED
	rebillLate              // also HOLD_NOT_ACTIVE, under voiceLateRebillChange
)

// reserveResponse is the reserve-response update: it holds the response's
// expected cost before the response is generated, so a caller without
// credits gets no response. A ledger refusal is a result (OK=false), not a
// failure; an unreachable ledger lets the response go on (Deferred), billed
// after the fact.
func (s *voiceSession) reserveResponse(ctx workflow.Context, req ReserveResponseRequest) (ReserveResponseResult, error) {
	s.touch(ctx)
	s.renew(ctx)
	r, ok := s.st.Open[req.ResponseID]
	if ok {
		// A retried request: answer with the hold already asked for.
		_ = workflow.Await(ctx, func() bool { return r.Billing != BillingReserving })
		if r.Billing != BillingNone {
			return r.reserveResult(), nil
		}
	} else {
		r = &VoiceResponse{ResponseID: req.ResponseID}
		s.st.Open[req.ResponseID] = r
	}
	tokens := req.EstimatedInputTokens
	if tokens == 0 {
		tokens = s.set.inputTokens
	}
	r.TurnID, r.Billing, r.HoldTokens = clip(req.TurnID), BillingReserving, tokens
	job := VoiceResponseJobID(s.in.SessionID, r.ResponseID)

	hold, err := s.reserve(ctx, r, job, tokens)
	switch reason, refused := ledgerRefusal(err); {
	case err == nil:
		r.Billing, r.ReservationID, r.HeldAmount = BillingHeld, hold.ID, hold.Amount
		s.event(ctx, "hold", r.TurnID, r.ResponseID, hold.Amount, hold.ID)
	case refused:
		r.Billing, r.Reason = BillingRefused, reason
		s.st.Totals.Refused++
		s.metrics.WithTags(map[string]string{"reason": reason}).Counter("voice.response.refused").Inc(1)
		s.event(ctx, "refused", r.TurnID, r.ResponseID, 0, reason)
		s.log.Warn("Response refused by billing", "evt", "VOICE_RESPONSE_REFUSED", "responseId", r.ResponseID, "reason", reason)
	default:
		r.Billing, r.Reason = BillingReserveFailed, ReasonBillingUnavailable
		s.billingFailure(ctx, r, "reserve", err)
	}
	res := r.reserveResult()
	switch {
	case r.Billing == BillingRefused:
		if r.Done && r.Status == ResponseCompleted && r.Usage.TotalTokens > 0 {
			s.generatedUnbilled(ctx, r.ResponseID)
		}
		s.settled(r) // no hold: nothing left to settle
	case r.Done:
		s.startSettle(ctx, r) // response-done arrived while the hold was asked for
	case s.closing:
		r.Done, r.Status, r.Reason = true, ResponseCancelled, "session ended before response-done"
		s.startSettle(ctx, r)
	}
	return res, nil
}

func (r *VoiceResponse) reserveResult() ReserveResponseResult {
	switch r.Billing {
	case BillingHeld:
		return ReserveResponseResult{OK: true, ReservationID: r.ReservationID, HeldAmount: r.HeldAmount}
	case BillingReserveFailed:
		return ReserveResponseResult{OK: true, Deferred: true, Reason: ReasonBillingUnavailable}
	case BillingRefused:
		return ReserveResponseResult{OK: false, Reason: r.Reason}
	default:
		return ReserveResponseResult{OK: false, Reason: "response already " + string(r.Billing)}
	}
}

// startSettle bills a response that is done (or abandoned) in its own
// coroutine; the session waits for every one before it closes or continues
// as new.
func (s *voiceSession) startSettle(ctx workflow.Context, r *VoiceResponse) {
	from := r.Billing
	r.Billing = BillingSettling
	s.pending++
	// Billing completes even if the session is cancelled.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	workflow.Go(dctx, func(ctx workflow.Context) {
		defer func() {
			s.pending--
			s.settled(r)
		}()
		s.settle(ctx, r, from)
	})
}

// settled forgets a response, remembering its id against late updates.
func (s *voiceSession) settled(r *VoiceResponse) {
	delete(s.st.Open, r.ResponseID)
	s.st.Settled = append(s.st.Settled, r.ResponseID)
	if over := len(s.st.Settled) - voiceRecentSettled; over > 0 {
		s.st.Settled = s.st.Settled[over:]
	}
}

// settle charges a completed response its usage and releases the hold of a
// cancelled or failed one. A response without a hold is billed after the
// fact (reserve, then capture).
func (s *voiceSession) settle(ctx workflow.Context, r *VoiceResponse, from VoiceBilling) {
	job := VoiceResponseJobID(s.in.SessionID, r.ResponseID)
	charge := r.Status == ResponseCompleted && r.Usage.TotalTokens > 0
	switch from {
	case BillingHeld:
		if charge {
			s.capture(ctx, r, job, r.ReservationID, rebillOutgrown)
		} else {
			s.release(ctx, r, job, r.ReservationID)
		}
	case BillingReserveFailed:
		// The failed reserve may have made its hold anyway: asking again with
		// the same key and parameters returns it (or makes it).
		hold, err := s.reserve(ctx, r, job, r.HoldTokens)
		if err != nil {
			s.reserveFailed(ctx, r, job, r.HoldTokens, err)
			return
		}
		r.ReservationID, r.HeldAmount = hold.ID, hold.Amount
		if charge {
			s.st.Totals.BilledLate++
			s.capture(ctx, r, job, hold.ID, rebillOutgrown)
		} else {
			s.release(ctx, r, job, hold.ID)
		}
	case BillingNone:
		if !charge {
			r.Billing = BillingReleased // nothing was held, nothing is owed
			return
		}
		// No hold was asked for (the realtime process could not reach
		// Temporal when the response started): bill it now.
		s.st.Totals.BilledLate++
		s.event(ctx, "bill-late", "", r.ResponseID, 0, "no hold when the response started")
		s.billLate(ctx, r, job)
	default:
		s.log.Error("Response settled from an unexpected billing state", "evt", "VOICE_BILLING_STATE", "responseId", r.ResponseID, "billing", from)
	}
}

// reserveAndCapture bills a usage already known: a hold sized to it, then
// its capture.
func (s *voiceSession) reserveAndCapture(ctx workflow.Context, r *VoiceResponse, job string) {
	tokens := max(r.Usage.InputTokens, 1)
	hold, err := s.reserve(ctx, r, job, tokens)
	if err != nil {
		s.reserveFailed(ctx, r, job, tokens, err)
		return
	}
	r.ReservationID, r.HeldAmount = hold.ID, hold.Amount
	s.capture(ctx, r, job, hold.ID, rebillNever)
}

// billLate bills a response no hold of this run covers. Its key may have
// been used by an earlier run of the session (one that closed, ORPHANED or
// TIMED_OUT, with the response in flight, and released its hold): the
// reserve then conflicts (the earlier hold was of the session's size, not
// the usage's), or returns that hold and its capture is refused
// HOLD_NOT_ACTIVE. Under voiceLateRebillChange the earlier hold is found
// and the usage billed under the rebill key. A hold captured already is
// never charged again: its capture replays (same key and usage), and a
// rebill under the one rebill key replays too.
func (s *voiceSession) billLate(ctx workflow.Context, r *VoiceResponse, job string) {
	tokens := max(r.Usage.InputTokens, 1)
	hold, err := s.reserve(ctx, r, job, tokens)
	if reason, _ := ledgerRefusal(err); reason == wire.CodeIdempotencyConflict.String() && s.lateRebill(ctx) {
		// The earlier run asked for the hold at the session's size (the
		// realtime process gives no estimate): the same request is answered
		// with that hold, never a new one.
		tokens = s.set.inputTokens
		hold, err = s.reserve(ctx, r, job, tokens)
		if err == nil {
			s.event(ctx, "hold-found", r.TurnID, r.ResponseID, hold.Amount, "held by an earlier run: "+hold.ID)
		}
	}
	if err != nil {
		s.reserveFailed(ctx, r, job, tokens, err)
		return
	}
	r.ReservationID, r.HeldAmount = hold.ID, hold.Amount
	s.capture(ctx, r, job, hold.ID, rebillLate)
}

// lateRebill reports whether this run bills again the usage of a response
// whose hold an earlier run released. Asked only on that path, so only the
// histories that take it get the marker.
func (s *voiceSession) lateRebill(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, voiceLateRebillChange, workflow.DefaultVersion, 1) >= 1
}

// rebills reports whether a capture refused for reason bills the usage
// again.
func (s *voiceSession) rebills(ctx workflow.Context, on rebillOn, reason string) bool {
	outgrown := reason == wire.ReasonUsageExceedsReservation || reason == wire.ReasonHoldExpired
	switch on {
	case rebillOutgrown:
		return outgrown
	case rebillLate:
		return (outgrown || reason == wire.ReasonHoldNotActive) && s.lateRebill(ctx)
	}
	return false
}

func (s *voiceSession) reserve(ctx workflow.Context, r *VoiceResponse, job string, tokens int) (wire.Reservation, error) {
	var hold wire.Reservation
	err := workflow.ExecuteActivity(s.billingCtx(ctx, "reserve "+r.ResponseID), wire.ActivityReserve,
		s.reserveInput(job, tokens)).Get(ctx, &hold)
	return hold, err
}

func (s *voiceSession) reserveInput(job string, tokens int) wire.ReserveInput {
	return wire.ReserveInput{JobID: job, UserID: s.in.UserID, ModelID: s.set.modelID, PromptTokens: tokens}
}

// The change that always reconciles what a session's ledger calls may have
// left held (the saga's reconcile-always, for voice): a reserve that failed
// for want of the ledger (reserveFailed), and a failed capture or release
// whose DLQ record could not be written (reconcile; the reconciliation
// writes it). GetVersion only on those paths.
const voiceReconcileAlwaysChange = "voice-reconcile-always"

func (s *voiceSession) reconcileAlways(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, voiceReconcileAlwaysChange, workflow.DefaultVersion, 1) >= 1
}

// reserveFailed records a response left unbilled by a failed reserve. A
// reserve that failed for want of the ledger may have committed with its
// reply lost (the connection cut by an outage): its hold would wait for its
// TTL. So such a response also gets a reconciliation (RESERVE_UNCERTAIN),
// which once the ledger is back reserves again with the same key and
// request, which replays that hold (or makes one), and releases it.
func (s *voiceSession) reserveFailed(ctx workflow.Context, r *VoiceResponse, job string, tokens int, err error) {
	s.unbilled(ctx, r, "reserve", err)
	if _, refused := ledgerRefusal(err); refused || !s.reconcileAlways(ctx) {
		return
	}
	in := s.reserveInput(job, tokens)
	s.reconcile(ctx, r, job, err, wire.ReconcileInput{Type: wire.DLQReserveUncertain, JobID: job,
		SchemaVersion: wire.DLQSchemaVersion, Reserve: &in})
}

// capture charges the response's usage. A hold the usage outgrew, or one that
// expired, is released and the usage billed again under a new key (once);
// billed late (rebillLate), so is one an earlier run released.
func (s *voiceSession) capture(ctx workflow.Context, r *VoiceResponse, job, reservationID string, on rebillOn) {
	usage := wire.Usage{PromptTokens: r.Usage.InputTokens, CompletionTokens: r.Usage.OutputTokens, TotalTokens: r.Usage.TotalTokens}
	var res wire.CaptureResult
	err := workflow.ExecuteActivity(s.billingCtx(ctx, "capture "+r.ResponseID), wire.ActivityCapture, wire.CaptureInput{
		JobID: job, ReservationID: reservationID, Usage: usage, UserID: s.in.UserID,
	}).Get(ctx, &res)
	reason, refused := ledgerRefusal(err)
	switch {
	case err == nil:
		r.Billing = BillingCaptured
		if res.Available != nil {
			s.st.Available = res.Available
		}
		s.st.Totals.Captured++
		s.st.Totals.BilledTotal += res.Charged
		s.metrics.Counter("voice.billing.captured").Inc(1)
		s.metrics.Counter("voice.billing.charged_micro_credits").Inc(res.Charged)
		s.event(ctx, "captured", r.TurnID, r.ResponseID, res.Charged, reservationID)
		s.log.Info("Response billed", "evt", "VOICE_RESPONSE_CAPTURED", "responseId", r.ResponseID, "charged", res.Charged,
			"currency", "micro-credits", "usage", r.Usage)
	case refused && s.rebills(ctx, on, reason):
		s.event(ctx, "rebill", r.TurnID, r.ResponseID, 0, reason)
		s.metrics.WithTags(map[string]string{"reason": reason}).Counter("voice.billing.rebilled").Inc(1)
		s.log.Warn("Response billed again under the rebill key", "evt", "VOICE_RESPONSE_REBILL", "responseId", r.ResponseID,
			"reason", reason, "reservationId", reservationID)
		if reason == wire.ReasonUsageExceedsReservation {
			s.release(ctx, r, job, reservationID)
		}
		s.reserveAndCapture(ctx, r, job+rebillSuffix)
	case refused:
		// Final: the hold goes back and the failure is on record.
		s.unbilled(ctx, r, "capture", err)
		s.release(ctx, r, job, reservationID)
		r.Billing = BillingUnbilled
	default:
		s.billingFailure(ctx, r, "capture", err)
		s.reconcile(ctx, r, job, err, wire.ReconcileInput{Type: wire.DLQCaptureFailed, JobID: job,
			SchemaVersion: wire.DLQSchemaVersion, ReservationID: reservationID, Usage: usage})
	}
}

// release returns a hold. An expired or already settled hold has given its
// credits back already.
func (s *voiceSession) release(ctx workflow.Context, r *VoiceResponse, job, reservationID string) {
	var res wire.ReleaseResult
	err := workflow.ExecuteActivity(s.billingCtx(ctx, "release "+r.ResponseID), wire.ActivityRelease, wire.ReleaseInput{
		JobID: job, ReservationID: reservationID,
	}).Get(ctx, &res)
	reason, refused := ledgerRefusal(err)
	switch {
	case err == nil || refused && (reason == wire.ReasonHoldExpired || reason == wire.ReasonHoldNotActive):
		r.Billing = BillingReleased
		s.st.Totals.Released++
		s.event(ctx, "released", r.TurnID, r.ResponseID, res.Returned, string(r.Status))
	case refused:
		s.unbilled(ctx, r, "release", err)
	default:
		s.billingFailure(ctx, r, "release", err)
		s.reconcile(ctx, r, job, err, wire.ReconcileInput{Type: wire.DLQReleaseFailed, JobID: job,
			SchemaVersion: wire.DLQSchemaVersion, ReservationID: reservationID})
	}
}

// billingFailure records an infrastructure failure: counted, on the
// timeline, logged. It never fails the session or the call.
func (s *voiceSession) billingFailure(ctx workflow.Context, r *VoiceResponse, op string, err error) {
	s.st.Totals.BillingFailures++
	s.metrics.WithTags(map[string]string{"op": op, "kind": "infrastructure"}).Counter("voice.billing.failure").Inc(1)
	s.event(ctx, "billing-failed", r.TurnID, r.ResponseID, 0, op+": "+rootMessage(err))
	s.log.Error("Voice billing failed", "evt", "VOICE_BILLING_FAILED", "op", op, "responseId", r.ResponseID, "error", rootMessage(err))
}

// unbilled records a response that could not be charged (or a hold that
// could not be returned) for a reason retrying cannot fix.
func (s *voiceSession) unbilled(ctx workflow.Context, r *VoiceResponse, op string, err error) {
	r.Billing = BillingUnbilled
	s.st.Totals.BillingFailures++
	reason, _ := ledgerRefusal(err)
	if reason == "" {
		reason = rootMessage(err)
	}
	s.metrics.WithTags(map[string]string{"op": op, "kind": "unbilled"}).Counter("voice.billing.failure").Inc(1)
	s.event(ctx, "unbilled", r.TurnID, r.ResponseID, 0, op+": "+reason)
	s.log.Error("Voice response not billed", "evt", "VOICE_RESPONSE_UNBILLED", "op", op, "responseId", r.ResponseID,
		"reason", reason, "usage", r.Usage)
}

// reconcile hands a failed capture or release (err) to the saga's DLQ and
// its Reconcile workflow, which retries it with the same key until it
// settles.
func (s *voiceSession) reconcile(ctx workflow.Context, r *VoiceResponse, job string, cause error, in wire.ReconcileInput) {
	r.Billing = BillingReconciling
	s.st.Totals.Reconciling++
	typ := in.Type
	p := wire.DLQPayload{
		SchemaVersion: wire.DLQSchemaVersion, Type: typ, OccurredAt: workflow.Now(ctx).UTC().Format(time.RFC3339Nano),
		Service: wire.DLQServiceVoice, JobID: job, SessionID: s.in.SessionID, ResponseID: r.ResponseID,
		UserID: s.in.UserID, ModelID: s.set.modelID, ReservationID: in.ReservationID, Retriable: true,
	}
	switch typ {
	case wire.DLQCaptureFailed:
		u := in.Usage
		p.ActualUsage, p.CaptureError = &u, errorMeta(cause)
	case wire.DLQReserveUncertain:
		p.ReserveError = errorMeta(cause)
	default:
		p.ReleaseError = errorMeta(cause)
	}
	err := workflow.ExecuteActivity(s.billingCtx(ctx, "dlq "+string(typ)+" "+r.ResponseID), wire.ActivityEnqueueDLQ,
		wire.DLQInput{Type: typ, JobID: job, SchemaVersion: wire.DLQSchemaVersion, Payload: p}).Get(ctx, nil)
	if err != nil {
		s.log.Error("DLQ_ENQUEUE_FAILED — MANUAL RECONCILIATION REQUIRED", append([]any{"evt", "DLQ_ENQUEUE_FAILED",
			"jobId", job, "innerType", typ, "dlqError", rootMessage(err)}, critical...)...)
		s.event(ctx, "dlq-failed", r.TurnID, r.ResponseID, 0, string(typ))
		// Under voice-reconcile-always the reconciliation starts anyway and
		// writes the missing record (as the saga's does); before, it did not.
		if !s.reconcileAlways(ctx) {
			return
		}
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            wire.ReconcileWorkflowID(job),
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	})
	// Wait for the start only: the reconciliation outlives the session.
	if err := workflow.ExecuteChildWorkflow(cctx, wire.WorkflowReconcile, in.WithRecord(p), wire.ReconcileOptions{}).GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		s.log.Error("Could not start reconciliation", "jobId", job, "error", err)
	}
	s.event(ctx, "reconciling", r.TurnID, r.ResponseID, 0, string(typ))
}

// billingCtx runs a ledger call with the saga's retry policy and a summary
// the Web UI shows against the activity in the session's history.
func (s *voiceSession) billingCtx(ctx workflow.Context, summary string) workflow.Context {
	o := billingActivityOptions()
	o.Summary = clip(summary)
	return workflow.WithActivityOptions(ctx, o)
}

// ledgerRefusal reports a business refusal from a billing activity and its
// reason (INSUFFICIENT_CREDITS, ...); anything else is infrastructure.
func ledgerRefusal(err error) (string, bool) {
	var appErr *temporal.ApplicationError
	if err == nil || !errors.As(err, &appErr) {
		return "", false
	}
	switch code := wire.Code(appErr.Type()); code {
	case wire.CodeBillingRejected:
		var reason string
		if appErr.HasDetails() {
			_ = appErr.Details(&reason)
		}
		if reason == "" {
			reason = code.String()
		}
		return reason, true
	case wire.CodeIdempotencyConflict:
		return code.String(), true
	}
	return "", false
}
