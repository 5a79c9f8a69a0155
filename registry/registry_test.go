package registry

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/wire"
)

// Every workflow runs its happy path on a test environment registered only
// through Register, with the offline provider and a SQLite ledger: a
// workflow or activity missing from the registry, or registered under
// another name than the one the workflows call, fails here.
func TestRegisterRunsEveryWorkflow(t *testing.T) {
	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Config{DSN: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Credit(ctx, "u1", 1_000_000_000, "seed"); err != nil {
		t.Fatal(err)
	}
	models, err := provider.New(provider.Config{})
	if err != nil {
		t.Fatal(err)
	}
	blobs := blob.Dir{Root: t.TempDir()}
	img, err := os.ReadFile(filepath.Join("..", "testdata", "item-42.png"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := blobs.Put(ctx, img, wire.MediaTypePNG)
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{Models: models, Blobs: blobs, Ledger: l, Environment: "test"}

	tests := []struct {
		workflow string
		args     []any
	}{
		{wire.WorkflowConsensusEvaluation, []any{wire.ConsensusInput{ItemID: "item-1", Image: wire.Image{MediaType: wire.MediaTypePNG, Ref: &ref}}}},
		{wire.WorkflowInferenceJob, []any{wire.InferenceInput{UserID: "u1", JobID: "job-1",
			Payload: wire.InferencePayload{ModelID: "offline-small", PromptTokens: 10, Prompt: "hi"}}}},
		{wire.WorkflowReconcile, []any{wire.ReconcileInput{Type: wire.DLQReleaseFailed, JobID: "job-2", SchemaVersion: 1, ReservationID: "none"},
			wire.ReconcileOptions{HorizonMs: 1}}},
		{wire.WorkflowExpireHolds, nil},
	}
	var names []string
	for _, tt := range tests {
		names = append(names, tt.workflow)
		t.Run(tt.workflow, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			Register(env, deps)
			env.ExecuteWorkflow(tt.workflow, tt.args...)
			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			err := env.GetWorkflowError()
			// Reconciling a hold that never existed escalates: that it got
			// as far as the ledger is what this test is about.
			if tt.workflow == wire.WorkflowReconcile {
				if err == nil || !strings.Contains(err.Error(), "no DLQ record") {
					t.Fatalf("reconciling an unknown hold must escalate with the ledger's answer, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	if got := WorkflowNames(); len(got) != len(names) {
		t.Errorf("registered workflows %v, tested %v", got, names)
	}
}
