package activities

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/wire"
)

// slowModel answers after delay, or with err.
type slowModel struct {
	delay time.Duration
	err   error
	usage provider.Usage
}

func (m slowModel) Complete(ctx context.Context, req provider.CompletionRequest) (provider.CompletionOutput, error) {
	select {
	case <-ctx.Done():
		return provider.CompletionOutput{}, ctx.Err()
	case <-time.After(m.delay):
	}
	if m.err != nil {
		return provider.CompletionOutput{}, m.err
	}
	return provider.CompletionOutput{Text: "ok", ModelID: req.ModelID, Usage: m.usage}, nil
}

var (
	okUsage      = wire.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15}
	okModelUsage = provider.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15}
)

func newBilling(t *testing.T, model provider.Completer) *Billing {
	l, err := ledger.Open(context.Background(), ledger.Config{DSN: filepath.Join(t.TempDir(), "l.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Credit(context.Background(), "u", 1_000_000, "seed"); err != nil {
		t.Fatal(err)
	}
	return &Billing{Ledger: l, Models: model, Environment: "test"}
}

func TestCallModelClassification(t *testing.T) {
	tests := []struct {
		name  string
		model slowModel
		want  wire.Code
	}{
		{"slower than the job timeout", slowModel{delay: 2 * time.Second}, wire.CodeModelTimeout},
		{"rate limited", slowModel{err: &provider.Error{Code: provider.CodeRateLimited, StatusCode: 429}}, wire.CodeModelRateLimited},
		{"5xx", slowModel{err: &provider.Error{Code: provider.CodeServerError, StatusCode: 503}}, wire.CodeModelServerError},
		{"4xx", slowModel{err: &provider.Error{Code: provider.CodeClientError, StatusCode: 404}}, wire.CodeModelClientError},
		{"no usage", slowModel{}, wire.CodeModelServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := activityEnv(nil)
			env.RegisterActivity(newBilling(t, tt.model))
			_, err := env.ExecuteActivity((&Billing{}).CallModel, wire.ModelInput{JobID: "j", ModelID: "offline-small", PromptTokens: 10, TimeoutMs: 100})
			appErr := appError(t, err)
			if wire.Code(appErr.Type()) != tt.want || !appErr.NonRetryable() {
				t.Fatalf("got %s nonRetryable=%v", appErr.Type(), appErr.NonRetryable())
			}
		})
	}
}

func TestLedgerErrorsAreTyped(t *testing.T) {
	b := newBilling(t, slowModel{usage: okModelUsage})
	env := activityEnv(nil)
	env.RegisterActivity(b)
	// Insufficient credits is a business rejection: final.
	_, err := env.ExecuteActivity((&Billing{}).Reserve, wire.ReserveInput{JobID: "big", UserID: "nobody", ModelID: "gpt-4o", PromptTokens: 100})
	if a := appError(t, err); a.Type() != string(wire.CodeBillingRejected) || !a.NonRetryable() {
		t.Fatalf("rejection: %v", err)
	}
	// A reserve replay returns the first hold.
	first, err := env.ExecuteActivity((&Billing{}).Reserve, wire.ReserveInput{JobID: "j1", UserID: "u", ModelID: "offline-small", PromptTokens: 100})
	if err != nil {
		t.Fatal(err)
	}
	again, err := env.ExecuteActivity((&Billing{}).Reserve, wire.ReserveInput{JobID: "j1", UserID: "u", ModelID: "offline-small", PromptTokens: 100})
	if err != nil {
		t.Fatal(err)
	}
	var r1, r2 ledger.Reservation
	_ = first.Get(&r1)
	_ = again.Get(&r2)
	if r1.ID == "" || r1.ID != r2.ID {
		t.Fatalf("replayed reserve made a second hold: %s vs %s", r1.ID, r2.ID)
	}
	// The same job id with other parameters is an idempotency conflict: final.
	_, err = env.ExecuteActivity((&Billing{}).Reserve, wire.ReserveInput{JobID: "j1", UserID: "u", ModelID: "offline-small", PromptTokens: 999})
	if a := appError(t, err); a.Type() != string(wire.CodeIdempotencyConflict) || !a.NonRetryable() {
		t.Fatalf("conflict: %v", err)
	}
}

func TestEnqueueDLQAndReconcile(t *testing.T) {
	ctx := context.Background()
	b := newBilling(t, slowModel{usage: okModelUsage})
	env := activityEnv(nil)
	env.RegisterActivity(b)
	hold, err := b.Ledger.Reserve(ctx, ledger.ReserveRequest{UserID: "u", ModelID: "offline-small", PromptTokens: 10, IdempotencyKey: "res_j2"})
	if err != nil {
		t.Fatal(err)
	}
	in := wire.DLQInput{Type: wire.DLQCaptureFailed, JobID: "j2", SchemaVersion: 1,
		Payload: wire.DLQPayload{Type: wire.DLQCaptureFailed, JobID: "j2", SchemaVersion: 1, Retriable: true}}
	for range 2 { // at-least-once delivery: the second is a no-op
		if _, err := env.ExecuteActivity((&Billing{}).EnqueueDLQ, in); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := b.Ledger.DLQ(ctx, "CAPTURE_FAILED", "j2", 1)
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string]any
	_ = json.Unmarshal(rec.Payload, &stored)
	if stored["environment"] != "test" || rec.Status != ledger.DLQOpen {
		t.Fatalf("record = %+v, payload %v", rec, stored)
	}
	if st, _ := b.Ledger.JobState(ctx, "j2"); st != "RECONCILIATION_REQUIRED" {
		t.Fatalf("job state = %q", st)
	}

	v, err := env.ExecuteActivity((&Billing{}).ReconcileAttempt, wire.ReconcileInput{Type: "CAPTURE_FAILED", JobID: "j2", SchemaVersion: 1, ReservationID: hold.ID, Usage: okUsage})
	if err != nil {
		t.Fatal(err)
	}
	var out wire.ReconcileOutcome
	_ = v.Get(&out)
	if !out.Resolved || out.State != "CAPTURED" || out.Attempts != 1 {
		t.Fatalf("outcome = %+v", out)
	}
	rec, _ = b.Ledger.DLQ(ctx, "CAPTURE_FAILED", "j2", 1)
	if st, _ := b.Ledger.JobState(ctx, "j2"); st != "CAPTURED" || rec.Status != ledger.DLQResolved {
		t.Fatalf("after reconcile: state %q, record %s", st, rec.Status)
	}
	// Reconciling again is harmless: the capture key replays its first result.
	v, err = env.ExecuteActivity((&Billing{}).ReconcileAttempt, wire.ReconcileInput{Type: "CAPTURE_FAILED", JobID: "j2", SchemaVersion: 1, ReservationID: hold.ID, Usage: okUsage})
	if err != nil {
		t.Fatal(err)
	}
	out = wire.ReconcileOutcome{}
	if err := v.Get(&out); err != nil || !out.Resolved || out.Attempts != 2 {
		t.Fatalf("second reconcile = %+v, %v", out, err)
	}
	if bal, _ := b.Ledger.Balance(ctx, "u"); bal.Held != 0 || bal.Spent == 0 {
		t.Fatalf("balance = %+v", bal)
	}
}

func TestReconcileReleaseOfExpiredHoldIsResolved(t *testing.T) {
	ctx := context.Background()
	b := newBilling(t, slowModel{usage: okModelUsage})
	env := activityEnv(nil)
	env.RegisterActivity(b)
	hold, err := b.Ledger.Reserve(ctx, ledger.ReserveRequest{UserID: "u", ModelID: "offline-small", PromptTokens: 10, IdempotencyKey: "res_j3", TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.Ledger.ExpireHolds(ctx, time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("expire: %d, %v", n, err)
	}
	if _, err := env.ExecuteActivity((&Billing{}).EnqueueDLQ, wire.DLQInput{Type: wire.DLQReleaseFailed, JobID: "j3", SchemaVersion: 1,
		Payload: wire.DLQPayload{Type: wire.DLQReleaseFailed, JobID: "j3", SchemaVersion: 1}}); err != nil {
		t.Fatal(err)
	}
	v, err := env.ExecuteActivity((&Billing{}).ReconcileAttempt, wire.ReconcileInput{Type: "RELEASE_FAILED", JobID: "j3", SchemaVersion: 1, ReservationID: hold.ID})
	if err != nil {
		t.Fatal(err)
	}
	var out wire.ReconcileOutcome
	_ = v.Get(&out)
	if !out.Resolved || out.State != "RELEASED" {
		t.Fatalf("outcome = %+v (an expired hold has already returned its credits)", out)
	}
}

// A reserve whose reply was lost is reconciled by reserving again under the
// job's key (replaying the hold, or making one) and releasing it: whatever
// the lost reserve did, the user ends whole, and a second attempt changes
// nothing. The saga's DLQ record may be missing (written best effort while
// the ledger was down): the attempt writes it.
func TestReconcileLostReserve(t *testing.T) {
	for _, tt := range []struct {
		name      string
		user      string
		committed bool // the lost reserve did commit
		// earlier is what the key already held before the reconciliation
		// (and before the balance is read): a voice response's key reused.
		earlier    func(ctx context.Context, b *Billing, reserve wire.ReserveInput) error
		wantHolds  int
		wantStatus ledger.HoldStatus
	}{
		{"hold committed, reply lost", "u", true, nil, 1, ledger.HoldReleased},
		{"nothing committed", "u", false, nil, 1, ledger.HoldReleased},
		{"too little credit", "poor", false, nil, 0, ""},
		{"the key's hold was captured since", "u", false, func(ctx context.Context, b *Billing, reserve wire.ReserveInput) error {
			r, err := b.Reserve(ctx, reserve)
			if err == nil {
				_, err = b.Capture(ctx, wire.CaptureInput{JobID: reserve.JobID, ReservationID: r.ID, Usage: wire.Usage{PromptTokens: 10, TotalTokens: 10}})
			}
			return err
		}, 1, ledger.HoldCaptured},
		{"the key holds another request", "u", false, func(ctx context.Context, b *Billing, reserve wire.ReserveInput) error {
			reserve.PromptTokens = 20
			_, err := b.Reserve(ctx, reserve)
			return err
		}, 1, ledger.HoldActive},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			b := newBilling(t, slowModel{usage: okModelUsage})
			env := activityEnv(nil)
			env.RegisterActivity(b)
			reserve := wire.ReserveInput{JobID: "j4", UserID: tt.user, ModelID: "offline-small", PromptTokens: 10}
			if tt.earlier != nil {
				if err := tt.earlier(ctx, b, reserve); err != nil {
					t.Fatal(err)
				}
			}
			before, err := b.Ledger.Balance(ctx, tt.user)
			if err != nil {
				t.Fatal(err)
			}
			if tt.committed {
				if _, err := b.Reserve(ctx, reserve); err != nil {
					t.Fatal(err)
				}
			}
			in := wire.ReconcileInput{Type: wire.DLQReserveUncertain, JobID: "j4", SchemaVersion: 1, Reserve: &reserve}
			for attempt := 1; attempt <= 2; attempt++ {
				v, err := env.ExecuteActivity((&Billing{}).ReconcileAttempt, in)
				if err != nil {
					t.Fatal(err)
				}
				var out wire.ReconcileOutcome
				_ = v.Get(&out)
				if !out.Resolved || out.State != wire.StateReservationFailed || out.Attempts != attempt {
					t.Fatalf("attempt %d: %+v", attempt, out)
				}
			}
			after, err := b.Ledger.Balance(ctx, tt.user)
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Errorf("balance %+v, was %+v", after, before)
			}
			holds, err := b.Ledger.Holds(ctx, tt.user)
			if err != nil {
				t.Fatal(err)
			}
			if len(holds) != tt.wantHolds || (len(holds) == 1 && holds[0].Status != tt.wantStatus) {
				t.Errorf("holds %+v, want %d %s", holds, tt.wantHolds, tt.wantStatus)
			}
		})
	}
}

// A reconciliation whose DLQ record its writer could not write writes it as
// that writer would have, then settles: here a release.
func TestReconcileWritesAMissingRecord(t *testing.T) {
	voice := wire.DLQPayload{Service: wire.DLQServiceVoice, SessionID: "s1", ResponseID: "r1", UserID: "u", ModelID: "offline-small"}
	tests := []struct {
		name string
		in   wire.ReconcileInput
		want wire.DLQPayload
	}{
		// Runs started before inputs named their writer: the saga's record.
		{name: "saga, no writer named", in: wire.ReconcileInput{JobID: "j5"}, want: wire.DLQPayload{Service: wire.DLQService}},
		{name: "voice session", in: wire.ReconcileInput{JobID: "voice-s1-r1"}.WithRecord(voice), want: voice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			b := newBilling(t, slowModel{usage: okModelUsage})
			env := activityEnv(nil)
			env.RegisterActivity(b)
			hold, err := b.Ledger.Reserve(ctx, ledger.ReserveRequest{UserID: "u", ModelID: "offline-small", PromptTokens: 10, IdempotencyKey: "res_" + tt.in.JobID})
			if err != nil {
				t.Fatal(err)
			}
			in := tt.in
			in.Type, in.SchemaVersion, in.ReservationID = wire.DLQReleaseFailed, 1, hold.ID
			v, err := env.ExecuteActivity((&Billing{}).ReconcileAttempt, in)
			if err != nil {
				t.Fatal(err)
			}
			var out wire.ReconcileOutcome
			_ = v.Get(&out)
			if !out.Resolved || out.State != wire.StateReleased || out.Attempts != 1 {
				t.Fatalf("outcome %+v", out)
			}
			recs, err := b.Ledger.ListDLQ(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 || recs[0].Type != string(wire.DLQReleaseFailed) || recs[0].JobID != in.JobID || recs[0].Status != ledger.DLQResolved {
				t.Fatalf("DLQ records %+v, want one resolved RELEASE_FAILED of %s", recs, in.JobID)
			}
			var got wire.DLQPayload
			if err := json.Unmarshal(recs[0].Payload, &got); err != nil {
				t.Fatal(err)
			}
			if got.Service != tt.want.Service || got.SessionID != tt.want.SessionID || got.ResponseID != tt.want.ResponseID ||
				got.UserID != tt.want.UserID || got.ModelID != tt.want.ModelID || got.ReservationID != hold.ID {
				t.Errorf("record names %s/%s/%s user %q model %q hold %s; want %+v, hold %s",
					got.Service, got.SessionID, got.ResponseID, got.UserID, got.ModelID, got.ReservationID, tt.want, hold.ID)
			}
		})
	}
}
