package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/inferflow/inferflow/wire"
)

func TestReconcile(t *testing.T) {
	in := wire.ReconcileInput{Type: "CAPTURE_FAILED", JobID: "job-1", SchemaVersion: 1, ReservationID: "hold-1"}
	tests := []struct {
		name          string
		outcomes      []wire.ReconcileOutcome // per attempt; the last repeats
		opts          wire.ReconcileOptions
		wantAttempts  int
		wantEscalated bool
		wantMinWait   time.Duration
	}{
		{name: "resolves on the third attempt with growing backoff",
			outcomes:     []wire.ReconcileOutcome{{Error: "down"}, {Error: "down"}, {Resolved: true, State: "CAPTURED"}},
			opts:         wire.ReconcileOptions{InitialBackoffMs: 1000, MaxBackoffMs: 60_000},
			wantAttempts: 3, wantMinWait: 3 * time.Second},
		{name: "permanent failure escalates at once",
			outcomes:     []wire.ReconcileOutcome{{Error: "hold expired", Permanent: true}},
			wantAttempts: 1, wantEscalated: true},
		{name: "gives up after the horizon",
			outcomes:     []wire.ReconcileOutcome{{Error: "down"}},
			opts:         wire.ReconcileOptions{InitialBackoffMs: 1000, MaxBackoffMs: 4000, HorizonMs: 20_000},
			wantAttempts: 7, wantEscalated: true, wantMinWait: 15 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(Reconcile)
			env.RegisterActivity(billing)
			attempts, escalated := 0, false
			env.OnActivity(billing.ReconcileAttempt, mock.Anything, mock.Anything).Return(
				func(context.Context, wire.ReconcileInput) (wire.ReconcileOutcome, error) {
					attempts++
					o := tt.outcomes[min(attempts, len(tt.outcomes))-1]
					o.Attempts = attempts
					return o, nil
				})
			env.OnActivity(billing.Escalate, mock.Anything, mock.Anything, mock.Anything).Return(
				func(context.Context, wire.ReconcileInput, string) error { escalated = true; return nil })
			start := env.Now()
			env.ExecuteWorkflow(Reconcile, in, tt.opts)
			err := env.GetWorkflowError()
			if attempts != tt.wantAttempts || escalated != tt.wantEscalated {
				t.Fatalf("attempts %d (want %d), escalated %v (want %v)", attempts, tt.wantAttempts, escalated, tt.wantEscalated)
			}
			var appErr *temporal.ApplicationError
			if tt.wantEscalated != (errors.As(err, &appErr) && appErr.Type() == string(wire.CodeReconciliationEscalated)) {
				t.Fatalf("err = %v", err)
			}
			if waited := env.Now().Sub(start); waited < tt.wantMinWait {
				t.Fatalf("waited %s of workflow time, want at least %s", waited, tt.wantMinWait)
			}
		})
	}
}

func TestExpireHoldsSweep(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(ExpireHolds)
	env.RegisterActivity(billing)
	env.OnActivity(billing.ExpireHolds, mock.Anything).Return(3, nil)
	env.ExecuteWorkflow(ExpireHolds)
	var n int
	if err := env.GetWorkflowResult(&n); err != nil || n != 3 {
		t.Fatalf("expired %d, err %v", n, err)
	}
}
