package activities

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/wire"
)

// ClaimJob: the first run claims, the same run again passes, another run is
// DUPLICATE_JOB (final, naming the holder); an unreachable ledger is an
// infrastructure error, left to the retry policy.
func TestClaimJob(t *testing.T) {
	b := newBilling(t, slowModel{usage: okModelUsage})
	env := activityEnv(nil)
	env.RegisterActivity(b)
	for _, run := range []string{"run-1", "run-1"} {
		if _, err := env.ExecuteActivity((&Billing{}).ClaimJob, wire.ClaimInput{JobID: "j", RunID: run}); err != nil {
			t.Fatalf("claim by %s: %v", run, err)
		}
	}
	_, err := env.ExecuteActivity((&Billing{}).ClaimJob, wire.ClaimInput{JobID: "j", RunID: "run-2"})
	a := appError(t, err)
	var holder string
	if a.Type() != string(wire.CodeDuplicateJob) || !a.NonRetryable() || a.Details(&holder) != nil || holder != "run-1" {
		t.Fatalf("second run: %v (holder %q)", err, holder)
	}

	b.Ledger = downLedger{b.Ledger}
	_, err = env.ExecuteActivity((&Billing{}).ClaimJob, wire.ClaimInput{JobID: "k", RunID: "run-1"})
	if a := appError(t, err); a.NonRetryable() || a.Type() == string(wire.CodeDuplicateJob) {
		t.Fatalf("ledger down: %v; want a retryable infrastructure error", err)
	}
}

// downLedger is a ledger whose database is unreachable for claims.
type downLedger struct{ ledger.Ledger }

func (downLedger) ClaimJob(context.Context, string, string) error {
	return errors.New("dial tcp: connection refused")
}

// capModel records the request and answers with usage.
type capModel struct {
	mu    sync.Mutex
	reqs  []provider.CompletionRequest
	usage provider.Usage
}

func (m *capModel) Complete(_ context.Context, req provider.CompletionRequest) (provider.CompletionOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reqs = append(m.reqs, req)
	return provider.CompletionOutput{Text: "ok", ModelID: req.ModelID, Usage: m.usage}, nil
}

// Reserve reports the hold's token bounds; CallModel sends the cap to the
// provider; a usage whose total is not prompt + completion (which the
// ledger would refuse) is refused at the model call already.
func TestModelCallCappedAtReservation(t *testing.T) {
	m := &capModel{usage: okModelUsage}
	b := newBilling(t, m)
	env := activityEnv(nil)
	env.RegisterActivity(b)
	v, err := env.ExecuteActivity((&Billing{}).Reserve, wire.ReserveInput{JobID: "j", UserID: "u", ModelID: "offline-small", PromptTokens: 100})
	if err != nil {
		t.Fatal(err)
	}
	var r wire.Reservation
	if err := v.Get(&r); err != nil || r.MaxCompletionTokens != 1024 || r.MaxTokens != 100+1024 {
		t.Fatalf("reservation = %+v, %v", r, err)
	}
	if _, err := env.ExecuteActivity((&Billing{}).CallModel, wire.ModelInput{JobID: "j", ModelID: "offline-small", PromptTokens: 100,
		TimeoutMs: 1000, MaxTokens: r.MaxCompletionTokens}); err != nil {
		t.Fatal(err)
	}
	if len(m.reqs) != 1 || m.reqs[0].MaxTokens != 1024 {
		t.Fatalf("provider requests = %+v", m.reqs)
	}

	m.usage = provider.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 16}
	_, err = env.ExecuteActivity((&Billing{}).CallModel, wire.ModelInput{JobID: "j", ModelID: "offline-small", PromptTokens: 100, TimeoutMs: 1000})
	if a := appError(t, err); a.Type() != string(wire.CodeModelServerError) {
		t.Fatalf("inconsistent usage: %v", err)
	}
	// The ledger refuses the same usage.
	_, err = b.Ledger.Capture(context.Background(), ledger.CaptureRequest{ReservationID: r.ID, IdempotencyKey: "cap_j",
		Usage: ledger.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 16}})
	if reason, _ := ledger.RejectionReason(err); reason != ledger.ReasonInvalidUsage {
		t.Fatalf("ledger: %v", err)
	}
}

// A USAGE_OVERAGE record is stored for an operator; it does not put the
// (captured) job into reconciliation.
func TestEnqueueUsageOverage(t *testing.T) {
	ctx := context.Background()
	b := newBilling(t, slowModel{usage: okModelUsage})
	env := activityEnv(nil)
	env.RegisterActivity(b)
	actual, billed := wire.Usage{PromptTokens: 100, CompletionTokens: 2000, TotalTokens: 2100}, wire.Usage{PromptTokens: 100, CompletionTokens: 1024, TotalTokens: 1124}
	in := wire.DLQInput{Type: wire.DLQUsageOverage, JobID: "j3", SchemaVersion: 1, Payload: wire.DLQPayload{Type: wire.DLQUsageOverage,
		JobID: "j3", SchemaVersion: 1, ReservationID: "res_x", ActualUsage: &actual, BilledUsage: &billed, MaxTokens: 1124}}
	if _, err := env.ExecuteActivity((&Billing{}).EnqueueDLQ, in); err != nil {
		t.Fatal(err)
	}
	rec, err := b.Ledger.DLQ(ctx, string(wire.DLQUsageOverage), "j3", 1)
	if err != nil || rec.Status != ledger.DLQOpen {
		t.Fatalf("record = %+v, %v", rec, err)
	}
	if st, _ := b.Ledger.JobState(ctx, "j3"); st != "" {
		t.Fatalf("job state = %q; an overage needs no reconciliation", st)
	}
}
