package registry

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/inferflow/inferflow/activities"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
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
		drive    func(env *testsuite.TestWorkflowEnvironment) // signals and updates, if the workflow waits for them
		check    func(t *testing.T, env *testsuite.TestWorkflowEnvironment)
	}{
		{wire.WorkflowConsensusEvaluation, []any{wire.ConsensusInput{ItemID: "item-1", Image: wire.Image{MediaType: wire.MediaTypePNG, Ref: &ref}}}, nil, nil},
		{wire.WorkflowInferenceJob, []any{wire.InferenceInput{UserID: "u1", JobID: "job-1",
			Payload: wire.InferencePayload{ModelID: "offline-small", PromptTokens: 10, Prompt: "hi"}}}, nil, nil},
		{wire.WorkflowReconcile, []any{wire.ReconcileInput{Type: wire.DLQReleaseFailed, JobID: "job-2", SchemaVersion: 1, ReservationID: "none"},
			wire.ReconcileOptions{HorizonMs: 1}}, nil, nil},
		{wire.WorkflowExpireHolds, nil, nil, nil},
		// A voice session holds a response's cost (Reserve), charges its
		// usage when done (Capture) and completes when the call closes.
		{wire.WorkflowVoiceSession, []any{workflows.VoiceSessionInput{SessionID: "call-1", UserID: "u1"}},
			func(env *testsuite.TestWorkflowEnvironment) {
				env.RegisterDelayedCallback(func() {
					env.UpdateWorkflow(workflows.UpdateReserveResponse, "r1", &testsuite.TestUpdateCallback{
						OnReject: func(err error) { t.Errorf("reserve-response rejected: %v", err) }, OnAccept: func() {},
						OnComplete: func(any, error) {}}, workflows.ReserveResponseRequest{ResponseID: "r1", EstimatedInputTokens: 100})
				}, time.Second)
				env.RegisterDelayedCallback(func() {
					env.SignalWorkflow(string(workflows.SignalResponseDone), &workflows.ResponseDone{VoiceSignalMeta: workflows.VoiceSignalMeta{Seq: 1},
						ResponseID: "r1", Status: workflows.ResponseCompleted, Usage: workflows.VoiceUsage{InputTokens: 90, OutputTokens: 10, TotalTokens: 100}})
				}, 2*time.Second)
				env.RegisterDelayedCallback(func() {
					env.SignalWorkflow(string(workflows.SignalSessionClosed), &workflows.SessionClosed{VoiceSignalMeta: workflows.VoiceSignalMeta{Seq: 2}, Reason: "hangup"})
				}, 3*time.Second)
			},
			func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				var sum workflows.VoiceSummary
				if err := env.GetWorkflowResult(&sum); err != nil {
					t.Fatal(err)
				}
				if sum.State != workflows.VoiceClosed || sum.Totals.Captured != 1 || sum.Totals.BilledTotal <= 0 || sum.HeldAmount != 0 {
					t.Fatalf("summary %+v: want CLOSED with one response captured", sum)
				}
			}},
		// A batch of two items, one evaluated for real and one a bad id.
		{wire.WorkflowConsensusBatch, []any{wire.BatchInput{BatchID: "b1", Concurrency: 2, Items: []wire.ConsensusInput{
			{ItemID: "item-2", Image: wire.Image{MediaType: wire.MediaTypePNG, Ref: &ref}}, {ItemID: " "}}}}, nil,
			func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				var res wire.BatchResult
				if err := env.GetWorkflowResult(&res); err != nil {
					t.Fatal(err)
				}
				if res.Counts.Succeeded != 1 || res.Counts.FailedByCode[wire.CodeValidationFailed] != 1 || res.Results == nil {
					t.Fatalf("batch result %+v: want one item evaluated, one refused, and a results file", res)
				}
			}},
	}
	var names []string
	for _, tt := range tests {
		names = append(names, tt.workflow)
		t.Run(tt.workflow, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			Register(env, deps)
			if tt.drive != nil {
				tt.drive(env)
			}
			if tt.workflow == wire.WorkflowInferenceJob {
				// A job runs only under its own workflow id.
				env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: wire.InferenceWorkflowID("job-1")})
			}
			env.ExecuteWorkflow(tt.workflow, tt.args...)
			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			err := env.GetWorkflowError()
			// Reconciling a hold that never existed escalates (its missing
			// DLQ record written first): that it got as far as the ledger is
			// what this test is about.
			if tt.workflow == wire.WorkflowReconcile {
				if err == nil || !strings.Contains(err.Error(), "RESERVATION_NOT_FOUND") {
					t.Fatalf("reconciling an unknown hold must escalate with the ledger's answer, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, env)
			}
		})
	}
	if got := WorkflowNames(); len(got) != len(names) {
		t.Errorf("registered workflows %v, tested %v", got, names)
	}
}

// Workers cap the SDK's heartbeat throttle at the activities' heartbeat
// interval, or a cancellation waits for 0.8 × the heartbeat timeout.
func TestWorkerOptionsCapTheHeartbeatThrottle(t *testing.T) {
	for _, in := range []time.Duration{0, time.Minute, 10 * time.Millisecond} {
		got := WorkerOptions(worker.Options{MaxHeartbeatThrottleInterval: in}).MaxHeartbeatThrottleInterval
		if want := min(max(in, 0), activities.HeartbeatEvery); (in == 0 && got != activities.HeartbeatEvery) || (in != 0 && got != want) {
			t.Errorf("WorkerOptions(throttle %s) = %s", in, got)
		}
	}
}
