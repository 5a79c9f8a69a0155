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
)

// Application error types of the billing activities. Ledger rejections are
// business outcomes and never retried; anything else is infrastructure and
// retried by the activity retry policy.
const (
	ErrBillingRejected     = "BILLING_REJECTED"
	ErrIdempotencyConflict = "IDEMPOTENCY_CONFLICT"
)

// Billing holds the dependencies of the billed inference saga's activities.
type Billing struct {
	Ledger ledger.Ledger
	Models provider.Completer
	// Environment labels DLQ records (the seed's environment field).
	Environment string
}

// ModelCheck is what the saga needs to know about a model before it reserves.
type ModelCheck struct {
	Allowlisted bool `json:"allowlisted"`
}

// CheckModel reports whether modelID is in the server-side allowlist (the
// ledger's price catalog). It runs as a local activity: no I/O, but the
// catalog is worker configuration the workflow cannot read itself.
func (b *Billing) CheckModel(_ context.Context, modelID string) (ModelCheck, error) {
	ok := slices.ContainsFunc(b.Ledger.Catalog(), func(m ledger.Model) bool { return m.ID == modelID })
	return ModelCheck{Allowlisted: ok}, nil
}

// ReserveInput asks for a hold for one job.
type ReserveInput struct {
	JobID        string `json:"jobId"`
	UserID       string `json:"userId"`
	ModelID      string `json:"modelId"`
	PromptTokens int    `json:"promptTokens"`
}

// Reserve holds the job's expected cost with key res_<jobId>.
func (b *Billing) Reserve(ctx context.Context, in ReserveInput) (ledger.Reservation, error) {
	r, err := b.Ledger.Reserve(ctx, ledger.ReserveRequest{
		UserID: in.UserID, ModelID: in.ModelID, PromptTokens: in.PromptTokens, IdempotencyKey: "res_" + in.JobID,
	})
	return r, ledgerError(err)
}

// CaptureInput settles a job's hold with the model's actual usage.
type CaptureInput struct {
	JobID         string         `json:"jobId"`
	ReservationID string         `json:"reservationId"`
	Usage         provider.Usage `json:"usage"`
}

// Capture charges actual usage with key cap_<jobId>.
func (b *Billing) Capture(ctx context.Context, in CaptureInput) (ledger.CaptureResult, error) {
	r, err := b.Ledger.Capture(ctx, ledger.CaptureRequest{
		ReservationID:  in.ReservationID,
		Usage:          ledger.Usage{PromptTokens: in.Usage.PromptTokens, CompletionTokens: in.Usage.CompletionTokens, TotalTokens: in.Usage.TotalTokens},
		IdempotencyKey: "cap_" + in.JobID,
	})
	return r, ledgerError(err)
}

// ReleaseInput returns a job's hold.
type ReleaseInput struct {
	JobID         string `json:"jobId"`
	ReservationID string `json:"reservationId"`
}

// Release returns the whole hold with key rel_<jobId>.
func (b *Billing) Release(ctx context.Context, in ReleaseInput) (ledger.ReleaseResult, error) {
	r, err := b.Ledger.Release(ctx, ledger.ReleaseRequest{ReservationID: in.ReservationID, IdempotencyKey: "rel_" + in.JobID})
	return r, ledgerError(err)
}

// ModelInput is one billed model call.
type ModelInput struct {
	JobID        string `json:"jobId"`
	ModelID      string `json:"modelId"`
	Prompt       string `json:"prompt,omitempty"`
	PromptTokens int    `json:"promptTokens"`
	// TimeoutMs is the job's own timeout, enforced here so a slow model is a
	// MODEL_TIMEOUT (the seed's AbortController), while the activity's
	// start-to-close and heartbeat timeouts only catch a dead worker.
	TimeoutMs int `json:"timeoutMs"`
}

// ModelResult is the model's answer and metered usage.
type ModelResult struct {
	Text    string         `json:"text"`
	ModelID string         `json:"modelId"`
	Usage   provider.Usage `json:"usage"`
}

// Model error types: the seed's codes for a failed model call.
const (
	ModelTimeout     = "MODEL_TIMEOUT"
	ModelRateLimited = "MODEL_RATE_LIMITED"
	ModelServerError = "MODEL_SERVER_ERROR"
	ModelClientError = "MODEL_CLIENT_ERROR"
)

// CallModel runs the job's inference. Every failure is final for this job
// (the caller decides from the retry strategy); only a lost worker is
// retried by Temporal, through the heartbeat timeout.
func (b *Billing) CallModel(ctx context.Context, in ModelInput) (ModelResult, error) {
	callCtx, cancel := context.WithTimeout(ctx, time.Duration(in.TimeoutMs)*time.Millisecond)
	defer cancel()
	stop := heartbeatWhile(ctx)
	out, err := b.Models.Complete(callCtx, provider.CompletionRequest{
		ModelID: in.ModelID, Prompt: in.Prompt, PromptTokens: in.PromptTokens, RequestID: in.JobID,
	})
	stop()
	if err == nil {
		err = provider.ValidateCompletion(out)
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return ModelResult{}, ctx.Err() // the workflow cancelled the job
		}
		code := modelCode(err)
		activity.GetLogger(ctx).Warn("Model call failed", "evt", "MODEL_CALL_FAILED", "errorCode", code, "error", err.Error())
		return ModelResult{}, temporal.NewNonRetryableApplicationError(err.Error(), code, err)
	}
	return ModelResult{Text: out.Text, ModelID: out.ModelID, Usage: out.Usage}, nil
}

// modelCode classifies as the seed's classifyModelError; output the seed has
// no code for (missing usage) takes its safe default, MODEL_SERVER_ERROR.
func modelCode(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return ModelTimeout
	}
	switch provider.CodeOf(err) {
	case provider.CodeTimeout:
		return ModelTimeout
	case provider.CodeRateLimited:
		return ModelRateLimited
	case provider.CodeClientError, provider.CodeInvalidInput:
		return ModelClientError
	default:
		return ModelServerError
	}
}

// DLQInput is one dead-letter record to persist.
type DLQInput struct {
	Type          string          `json:"type"`
	JobID         string          `json:"jobId"`
	SchemaVersion int             `json:"schemaVersion"`
	Payload       json.RawMessage `json:"payload"`
}

// EnqueueDLQ persists a DLQ record (idempotent on type, jobId, version),
// filling in the worker's environment, and marks the job
// RECONCILIATION_REQUIRED in the job-state table the reconciler reads.
func (b *Billing) EnqueueDLQ(ctx context.Context, in DLQInput) (bool, error) {
	payload, err := withEnvironment(in.Payload, b.Environment)
	if err != nil {
		return false, temporal.NewNonRetryableApplicationError("bad DLQ payload: "+err.Error(), "INVALID_DLQ_PAYLOAD", err)
	}
	inserted, err := b.Ledger.PutDLQ(ctx, ledger.DLQRecord{Type: in.Type, JobID: in.JobID, SchemaVersion: in.SchemaVersion, Payload: payload})
	if err != nil {
		return false, ledgerError(err)
	}
	if in.Type != "TRANSITION_FAILED" {
		if err := b.Ledger.SetJobState(ctx, in.JobID, "RECONCILIATION_REQUIRED"); err != nil {
			return inserted, ledgerError(err)
		}
	}
	return inserted, nil
}

func withEnvironment(raw json.RawMessage, env string) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("payload is not a JSON object")
	}
	m["environment"] = env
	return json.Marshal(m)
}

// ReconcileInput names a DLQ record and what settles it.
type ReconcileInput struct {
	Type          string         `json:"type"` // CAPTURE_FAILED or RELEASE_FAILED
	JobID         string         `json:"jobId"`
	SchemaVersion int            `json:"schemaVersion"`
	ReservationID string         `json:"reservationId"`
	Usage         provider.Usage `json:"usage,omitzero"`
}

// ReconcileOutcome is one reconciliation attempt's result.
type ReconcileOutcome struct {
	Resolved bool   `json:"resolved"`
	State    string `json:"state,omitempty"` // CAPTURED or RELEASED when resolved
	// Permanent is true when retrying cannot help (e.g. the hold expired
	// before a capture): the record must be escalated now.
	Permanent bool   `json:"permanent,omitempty"`
	Attempts  int    `json:"attempts"`
	Error     string `json:"error,omitempty"`
}

// ReconcileAttempt retries the failed capture or release once, with the
// saga's own idempotency key, so however many attempts run, the ledger sees
// one effect. On success it marks the record resolved and the job settled.
func (b *Billing) ReconcileAttempt(ctx context.Context, in ReconcileInput) (ReconcileOutcome, error) {
	attempts, err := b.Ledger.RecordDLQAttempt(ctx, in.Type, in.JobID, in.SchemaVersion)
	if err != nil {
		return ReconcileOutcome{}, ledgerError(err)
	}
	out := ReconcileOutcome{Attempts: attempts}
	switch in.Type {
	case "CAPTURE_FAILED":
		_, err = b.Capture(ctx, CaptureInput{JobID: in.JobID, ReservationID: in.ReservationID, Usage: in.Usage})
		out.State = "CAPTURED"
	case "RELEASE_FAILED":
		_, err = b.Release(ctx, ReleaseInput{JobID: in.JobID, ReservationID: in.ReservationID})
		out.State = "RELEASED"
		// An expired hold has already given its credits back: the release
		// the job needed has happened.
		if reason, ok := ledger.RejectionReason(err); ok && reason == ledger.ReasonHoldExpired {
			err = nil
		}
	default:
		return ReconcileOutcome{}, temporal.NewNonRetryableApplicationError("unknown DLQ type "+in.Type, "INVALID_DLQ_TYPE", nil)
	}
	if err != nil {
		var appErr *temporal.ApplicationError
		out.Permanent = errors.As(err, &appErr) && appErr.NonRetryable()
		out.Error, out.State = err.Error(), ""
		return out, nil
	}
	if err := b.Ledger.SetJobState(ctx, in.JobID, out.State); err != nil {
		return ReconcileOutcome{}, ledgerError(err)
	}
	if err := b.Ledger.MarkDLQ(ctx, in.Type, in.JobID, in.SchemaVersion, ledger.DLQResolved, fmt.Sprintf("reconciled after %d attempts", attempts)); err != nil {
		return ReconcileOutcome{}, ledgerError(err)
	}
	out.Resolved = true
	return out, nil
}

// Escalate marks a DLQ record escalated: reconciliation gave up and a person
// must settle the job.
func (b *Billing) Escalate(ctx context.Context, in ReconcileInput, note string) error {
	return ledgerError(b.Ledger.MarkDLQ(ctx, in.Type, in.JobID, in.SchemaVersion, ledger.DLQEscalated, note))
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
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrBillingRejected, err, string(reason))
	}
	if errors.Is(err, ledger.ErrIdempotencyConflict) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrIdempotencyConflict, err)
	}
	return err
}
