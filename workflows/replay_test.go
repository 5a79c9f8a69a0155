package workflows_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/wire"
)

// Recorded histories of the main paths, from a dev server
// (`go test ./integration -run RecordHistories -record`). Each stands for a
// run in flight when new workflow code is deployed: the code must replay it
// to the same commands, or those runs fail. A change that cannot should be
// gated with workflow.GetVersion, and the histories then re-recorded with
// both paths kept.
var histories = append(slices.Clone(legacyHistories),
	"voice-session",   // a turn, a billed completed response, a close
	"voice-cancelled", // a response cancelled by barge-in, then the session cancelled with a hold open
	// The saga paths again on version 1 of billing-state-sparse (BillingState
	// upserted only for CLAIMED, final states and RECONCILIATION_REQUIRED).
	"saga-sparse-success",
	"saga-sparse-model-failure",
	"saga-sparse-capture-failure",
)

// legacyHistories are the paths recorded before package wire too
// (VoiceSession came after it).
var legacyHistories = []string{
	"consensus-success",
	"consensus-degraded",
	"consensus-early-cancel",
	"saga-success",
	"saga-model-failure",
	"saga-capture-failure",
	"reconcile-capture",
}

// The same paths recorded by the code before package wire (snake_case
// usage, the ledger's whole reservation, DLQ payloads built from maps): runs
// started then must still replay.
const legacy = "legacy"

func TestReplayRecordedHistories(t *testing.T) {
	for dir, histories := range map[string][]string{".": histories, legacy: legacyHistories} {
		root := filepath.Join("testdata", "histories", dir)
		files, _ := filepath.Glob(filepath.Join(root, "*.json"))
		var found []string
		for _, f := range files {
			found = append(found, strings.TrimSuffix(filepath.Base(f), ".json"))
		}
		slices.Sort(found)
		if want := slices.Sorted(slices.Values(histories)); !slices.Equal(found, want) {
			t.Fatalf("%s holds %v, the test replays %v", root, found, want)
		}
		for _, name := range histories {
			t.Run(filepath.Join(dir, name), func(t *testing.T) {
				r := worker.NewWorkflowReplayer()
				registry.Workflows(r)
				if err := r.ReplayWorkflowHistoryFromJSONFile(nil, filepath.Join(root, name+".json")); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// The replay test can fail: a consensus evaluation that skips its vision
// calls does not replay the recorded success.
func TestReplayDetectsNonDeterminism(t *testing.T) {
	path := filepath.Join("testdata", "histories", "consensus-success.json")
	if _, err := os.Stat(path); err != nil {
		t.Skip("no recorded history")
	}
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(func(ctx workflow.Context, in wire.ConsensusInput) (*wire.ConsensusResult, error) {
		return &wire.ConsensusResult{ItemID: in.ItemID}, nil
	}, workflow.RegisterOptions{Name: wire.WorkflowConsensusEvaluation})
	// The replayer logs the failure with a stack; keep the test output short.
	quiet := log.NewStructuredLogger(slog.New(slog.DiscardHandler))
	err := r.ReplayWorkflowHistoryFromJSONFile(quiet, path)
	if err == nil {
		t.Fatal("a workflow that issues different commands replayed the recorded history")
	}
	t.Logf("caught: %v", err)
}
