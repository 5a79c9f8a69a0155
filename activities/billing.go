package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/wire"
)

// Billing holds the dependencies of the billed inference saga's activities.
// Their inputs and results are wire types and their registered names the
// wire.Activity* constants. Ledger rejections are business outcomes
// (wire.CodeBillingRejected, wire.CodeIdempotencyConflict), never retried;
// any other ledger failure is infrastructure, retried by the retry policy.
type Billing struct {
	Ledger ledger.Ledger
	Models provider.Completer
	// Environment labels DLQ records (their environment field).
	Environment string
}

// CheckModel reports whether modelID is in the server-side allowlist (the
// ledger's price catalog). It runs as a local activity: no I/O, but the
// catalog is worker configuration the workflow cannot read itself.
func (b *Billing) CheckModel(_ context.Context, modelID string) (wire.ModelCheck, error) {
	ok := slices.ContainsFunc(b.Ledger.Catalog(), func(m ledger.Model) bool { return m.ID == modelID })
	return wire.ModelCheck{Allowlisted: ok}, nil
}

// Reserve holds the job's expected cost with key res_<jobId>.
func (b *Billing) Reserve(ctx context.Context, in wire.ReserveInput) (wire.Reservation, error) {
	r, err := b.Ledger.Reserve(ctx, ledger.ReserveRequest{
		UserID: in.UserID, ModelID: in.ModelID, PromptTokens: in.PromptTokens, IdempotencyKey: "res_" + in.JobID,
	})
	if err != nil {
		return wire.Reservation{}, ledgerError(err)
	}
	return wire.Reservation{ID: r.ID, Amount: r.Amount, MaxTokens: r.MaxTokens, MaxCompletionTokens: r.MaxCompletionTokens}, nil
}

// ClaimJob takes the job for the calling workflow run before anything is
// reserved or called. A job another run holds is CodeDuplicateJob, final,
// with the holder's run id in the details; any other failure is
// infrastructure, retried.
func (b *Billing) ClaimJob(ctx context.Context, in wire.ClaimInput) error {
	err := b.Ledger.ClaimJob(ctx, in.JobID, in.RunID)
	var claimed *ledger.JobClaimedError
	if errors.As(err, &claimed) {
		return temporal.NewNonRetryableApplicationError(err.Error(), string(wire.CodeDuplicateJob), err, claimed.RunID)
	}
	return ledgerError(err)
}

// Capture charges actual usage with key cap_<jobId>.
func (b *Billing) Capture(ctx context.Context, in wire.CaptureInput) (wire.CaptureResult, error) {
	r, err := b.Ledger.Capture(ctx, ledger.CaptureRequest{
		ReservationID:  in.ReservationID,
		Usage:          ledger.Usage{PromptTokens: in.Usage.PromptTokens, CompletionTokens: in.Usage.CompletionTokens, TotalTokens: in.Usage.TotalTokens},
		IdempotencyKey: "cap_" + in.JobID,
	})
	if err != nil {
		return wire.CaptureResult{}, ledgerError(err)
	}
	res := wire.CaptureResult{ReservationID: r.ReservationID, Charged: r.Charged, Returned: r.Returned}
	if in.UserID != "" {
		// Informational: the capture stands even if the balance cannot be
		// read now.
		if b, err := b.Ledger.Balance(ctx, in.UserID); err == nil {
			res.Available = &b.Available
		}
	}
	return res, nil
}

// Release returns the whole hold with key rel_<jobId>.
func (b *Billing) Release(ctx context.Context, in wire.ReleaseInput) (wire.ReleaseResult, error) {
	r, err := b.Ledger.Release(ctx, ledger.ReleaseRequest{ReservationID: in.ReservationID, IdempotencyKey: "rel_" + in.JobID})
	if err != nil {
		return wire.ReleaseResult{}, ledgerError(err)
	}
	return wire.ReleaseResult{ReservationID: r.ReservationID, Returned: r.Returned}, nil
}

// CallModel runs the job's inference. Every failure is final for this job
// (the caller decides from the retry strategy); only a lost worker is
// retried by Temporal, through the heartbeat timeout.
func (b *Billing) CallModel(ctx context.Context, in wire.ModelInput) (wire.ModelResult, error) {
	callCtx, cancel := context.WithTimeout(ctx, time.Duration(in.TimeoutMs)*time.Millisecond)
	defer cancel()
	stop := heartbeatWhile(ctx)
	out, err := b.Models.Complete(callCtx, provider.CompletionRequest{
		ModelID: in.ModelID, Prompt: in.Prompt, PromptTokens: in.PromptTokens, MaxTokens: in.MaxTokens, RequestID: in.JobID,
	})
	stop()
	if err == nil {
		err = provider.ValidateCompletion(out)
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return wire.ModelResult{}, ctx.Err() // the workflow cancelled the job
		}
		code := modelCode(err)
		activity.GetLogger(ctx).Warn("Model call failed", "evt", "MODEL_CALL_FAILED", "errorCode", code, "error", err.Error())
		return wire.ModelResult{}, temporal.NewNonRetryableApplicationError(err.Error(), string(code), err)
	}
	if in.MaxTokens > 0 && out.Usage.CompletionTokens > in.MaxTokens {
		// Billed at the hold by the saga (USAGE_OVERAGE); logged here with
		// the provider's answer.
		activity.GetLogger(ctx).Warn("Model answered past max_tokens", "evt", "MODEL_MAX_TOKENS_EXCEEDED",
			"maxTokens", in.MaxTokens, "completionTokens", out.Usage.CompletionTokens)
	}
	return wire.ModelResult{Text: out.Text, ModelID: out.ModelID, Usage: wire.Usage{
		PromptTokens: out.Usage.PromptTokens, CompletionTokens: out.Usage.CompletionTokens, TotalTokens: out.Usage.TotalTokens,
	}}, nil
}

// modelCode classifies a failed model call; output no code describes
// (missing usage) takes the safe default, MODEL_SERVER_ERROR.
func modelCode(err error) wire.Code {
	if errors.Is(err, context.DeadlineExceeded) {
		return wire.CodeModelTimeout
	}
	switch provider.CodeOf(err) {
	case provider.CodeTimeout:
		return wire.CodeModelTimeout
	case provider.CodeRateLimited:
		return wire.CodeModelRateLimited
	case provider.CodeClientError, provider.CodeInvalidInput:
		return wire.CodeModelClientError
	default:
		return wire.CodeModelServerError
	}
}

// EnqueueDLQ persists a DLQ record (idempotent on type, jobId, version),
// filling in the worker's environment, and, for a failed capture or
// release, marks the job RECONCILIATION_REQUIRED in the job-state table the
// reconciler reads.
func (b *Billing) EnqueueDLQ(ctx context.Context, in wire.DLQInput) (bool, error) {
	if err := checkDLQ(in); err != nil {
		return false, temporal.NewNonRetryableApplicationError("bad DLQ record: "+err.Error(), string(wire.CodeInvalidDLQPayload), err)
	}
	in.Payload.Environment = b.Environment
	payload, err := json.Marshal(in.Payload)
	if err != nil {
		return false, temporal.NewNonRetryableApplicationError("bad DLQ payload: "+err.Error(), string(wire.CodeInvalidDLQPayload), err)
	}
	inserted, err := b.Ledger.PutDLQ(ctx, ledger.DLQRecord{Type: string(in.Type), JobID: in.JobID, SchemaVersion: in.SchemaVersion, Payload: payload})
	if err != nil {
		return false, ledgerError(err)
	}
	if in.Type == wire.DLQCaptureFailed || in.Type == wire.DLQReleaseFailed {
		if err := b.Ledger.SetJobState(ctx, in.JobID, string(wire.StateReconciliationRequired)); err != nil {
			return inserted, ledgerError(err)
		}
	}
	return inserted, nil
}

// checkDLQ validates a record at the activity boundary: a known type and a
// job id, the same in the record and its payload.
func checkDLQ(in wire.DLQInput) error {
	switch in.Type {
	case wire.DLQCaptureFailed, wire.DLQReleaseFailed, wire.DLQTransitionFailed, wire.DLQUsageOverage, wire.DLQReserveUncertain:
	default:
		return fmt.Errorf("unknown DLQ type %q", in.Type)
	}
	if err := wire.ValidateID("jobId", in.JobID); err != nil {
		return err
	}
	if in.Payload.Type != in.Type || in.Payload.JobID != in.JobID {
		return fmt.Errorf("payload names %s/%s, the record %s/%s", in.Payload.Type, in.Payload.JobID, in.Type, in.JobID)
	}
	return nil
}

// ReconcileAttempt retries the failed capture or release once, with the
// saga's own idempotency key, so however many attempts run, the ledger sees
// one effect. On success it marks the record resolved and the job settled.
func (b *Billing) ReconcileAttempt(ctx context.Context, in wire.ReconcileInput) (wire.ReconcileOutcome, error) {
	attempts, err := b.Ledger.RecordDLQAttempt(ctx, string(in.Type), in.JobID, in.SchemaVersion)
	if reason, ok := ledger.RejectionReason(err); ok && reason == ledger.ReasonNotFound {
		// The saga could not write the record (the ledger was down for
		// longer than its retries): write it now, then count the attempt.
		if err := b.writeMissingRecord(ctx, in); err != nil {
			return wire.ReconcileOutcome{}, err
		}
		attempts, err = b.Ledger.RecordDLQAttempt(ctx, string(in.Type), in.JobID, in.SchemaVersion)
	}
	if err != nil {
		return wire.ReconcileOutcome{}, ledgerError(err)
	}
	out := wire.ReconcileOutcome{Attempts: attempts}
	switch in.Type {
	case wire.DLQReserveUncertain:
		if in.Reserve == nil {
			return wire.ReconcileOutcome{}, temporal.NewNonRetryableApplicationError("RESERVE_UNCERTAIN without its reserve", string(wire.CodeInvalidDLQType), nil)
		}
		out.State = wire.StateReservationFailed // the job's own end, whatever the hold was
		err = b.releaseLostReserve(ctx, in)
	case wire.DLQCaptureFailed:
		_, err = b.Capture(ctx, wire.CaptureInput{JobID: in.JobID, ReservationID: in.ReservationID, Usage: in.Usage})
		out.State = wire.StateCaptured
	case wire.DLQReleaseFailed:
		_, err = b.Release(ctx, wire.ReleaseInput{JobID: in.JobID, ReservationID: in.ReservationID})
		out.State = wire.StateReleased
		// An expired hold has already given its credits back: the release
		// the job needed has happened.
		if reason, ok := ledger.RejectionReason(err); ok && reason == ledger.ReasonHoldExpired {
			err = nil
		}
	default:
		return wire.ReconcileOutcome{}, temporal.NewNonRetryableApplicationError("unknown DLQ type "+string(in.Type), string(wire.CodeInvalidDLQType), nil)
	}
	if err != nil {
		var appErr *temporal.ApplicationError
		out.Permanent = errors.As(err, &appErr) && appErr.NonRetryable()
		out.Error, out.State = err.Error(), ""
		return out, nil
	}
	if err := b.Ledger.SetJobState(ctx, in.JobID, string(out.State)); err != nil {
		return wire.ReconcileOutcome{}, ledgerError(err)
	}
	if err := b.Ledger.MarkDLQ(ctx, string(in.Type), in.JobID, in.SchemaVersion, ledger.DLQResolved, fmt.Sprintf("reconciled after %d attempts", attempts)); err != nil {
		return wire.ReconcileOutcome{}, ledgerError(err)
	}
	out.Resolved = true
	return out, nil
}

// writeMissingRecord writes the DLQ record a reconciliation is for, from
// what its input says (the writer's own record had more: the error).
func (b *Billing) writeMissingRecord(ctx context.Context, in wire.ReconcileInput) error {
	p := wire.DLQPayload{SchemaVersion: in.SchemaVersion, Type: in.Type, OccurredAt: time.Now().UTC().Format(time.RFC3339Nano),
		Service: in.Service, JobID: in.JobID, SessionID: in.SessionID, ResponseID: in.ResponseID,
		UserID: in.UserID, ModelID: in.ModelID, ReservationID: in.ReservationID, Retriable: true}
	if p.Service == "" {
		p.Service = wire.DLQService // started before inputs named their writer: the saga
	}
	if in.Type == wire.DLQCaptureFailed {
		p.ActualUsage = &in.Usage
	}
	if in.Reserve != nil && p.UserID == "" {
		p.UserID, p.ModelID = in.Reserve.UserID, in.Reserve.ModelID
	}
	_, err := b.EnqueueDLQ(ctx, wire.DLQInput{Type: in.Type, JobID: in.JobID, SchemaVersion: in.SchemaVersion, Payload: p})
	return err
}

// releaseLostReserve reserves again under the job's key, which replays a
// hold the lost reserve made (or makes one), and releases that hold. A
// refusal means nothing is held, and so does an idempotency conflict (the
// key holds another request's outcome: the lost one never committed); an
// expired hold gave its credits back, and one no longer active (a voice
// response's key reused by a later run, which settled it) holds nothing.
func (b *Billing) releaseLostReserve(ctx context.Context, in wire.ReconcileInput) error {
	r, err := b.Reserve(ctx, *in.Reserve)
	if _, rejected := ledger.RejectionReason(err); rejected || errors.Is(err, ledger.ErrIdempotencyConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = b.Release(ctx, wire.ReleaseInput{JobID: in.JobID, ReservationID: r.ID})
	if reason, ok := ledger.RejectionReason(err); ok && (reason == ledger.ReasonHoldExpired || reason == ledger.ReasonHoldNotActive) {
		return nil
	}
	return err
}

// Escalate marks a DLQ record escalated: reconciliation gave up and a person
// must settle the job.
func (b *Billing) Escalate(ctx context.Context, in wire.ReconcileInput, note string) error {
	return ledgerError(b.Ledger.MarkDLQ(ctx, string(in.Type), in.JobID, in.SchemaVersion, ledger.DLQEscalated, note))
}

// ExpireHolds expires holds past their TTL (run by the sweep schedule).
func (b *Billing) ExpireHolds(ctx context.Context) (int, error) {
	n, err := b.Ledger.ExpireHolds(ctx, time.Now())
	return n, ledgerError(err)
}

// ledgerError keeps business rejections and idempotency conflicts apart from
// infrastructure failures: the first two are final, the last is retried.
func ledgerError(err error) error {
	if err == nil {
		return nil
	}
	if reason, ok := ledger.RejectionReason(err); ok {
		return temporal.NewNonRetryableApplicationError(err.Error(), string(wire.CodeBillingRejected), err, string(reason))
	}
	if errors.Is(err, ledger.ErrIdempotencyConflict) {
		return temporal.NewNonRetryableApplicationError(err.Error(), string(wire.CodeIdempotencyConflict), err)
	}
	return err
}
