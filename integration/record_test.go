package integration

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"

	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/wire"
)

var record = flag.Bool("record", false, "record the replay tests' workflow histories into workflows/testdata/histories")

// TestRecordHistories runs the main paths of each workflow on the dev server
// and writes their histories for the replay test (workflows/replay_test.go):
//
//	go test ./integration -run RecordHistories -record
//
// Re-record only on purpose: the recorded histories stand for the runs in
// flight that new workflow code must still replay.
func TestRecordHistories(t *testing.T) {
	if !*record {
		t.Skip("re-records workflows/testdata/histories only with -record")
	}
	dir := filepath.Join(root, "workflows", "testdata", "histories")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	ce := newConsensusEnv(t)
	ce.fake.ForVision().SetDefault(openaitest.OK(120, 0.9))
	ce.fake.ForJudge().SetDefault(openaitest.Judged(121, 0.95, "close valuations"))
	consensus := func(name, item string, opts *wire.ConsensusOptions) {
		if _, err := ce.run(t, item, opts); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		saveHistory(t, ce.client.Temporal, wire.ConsensusWorkflowID(item), filepath.Join(dir, name+".json"))
	}
	consensus("consensus-success", "rec-ok", nil)
	ce.fake.ForVision().Enqueue(openaitest.OutOfRange())
	consensus("consensus-degraded", "rec-degraded", nil)
	ce.fake.ForVision().Enqueue(openaitest.OK(10, 0.9), openaitest.OK(11, 0.9), openaitest.Hang())
	consensus("consensus-early-cancel", "rec-early-cancel", &wire.ConsensusOptions{EarlyCancel: true})

	be := newBillingEnv(t, "sqlite")
	be.credit(t, "rec", 10_000_000)
	be.fake.ForCompletion().SetDefault(openaitest.Text("hello").WithUsage(provider.Usage{PromptTokens: 180, CompletionTokens: 20, TotalTokens: 200}))
	if _, err := be.run(t, job("rec", "rec-ok", "")); err != nil {
		t.Fatal(err)
	}
	saveHistory(t, be.client.Temporal, wire.InferenceWorkflowID("rec-ok"), filepath.Join(dir, "saga-success.json"))

	be.fake.ForCompletion().Enqueue(openaitest.Status(500))
	if _, err := be.run(t, job("rec", "rec-model-failure", "")); err == nil {
		t.Fatal("model failure: the job succeeded")
	}
	saveHistory(t, be.client.Temporal, wire.InferenceWorkflowID("rec-model-failure"), filepath.Join(dir, "saga-model-failure.json"))

	be.faults(6, 0) // the saga's 5 capture attempts and the first reconciliation
	if _, err := be.run(t, job("rec", "rec-capture-failure", "")); err == nil {
		t.Fatal("capture failure: the strict job succeeded")
	}
	if state := be.waitReconciled(t, "rec-capture-failure"); state != string(wire.StateCaptured) {
		t.Fatalf("capture failure: reconciled to %q", state)
	}
	saveHistory(t, be.client.Temporal, wire.InferenceWorkflowID("rec-capture-failure"), filepath.Join(dir, "saga-capture-failure.json"))
	saveHistory(t, be.client.Temporal, wire.ReconcileWorkflowID("rec-capture-failure"), filepath.Join(dir, "reconcile-capture.json"))
}

// saveHistory writes a closed workflow's history as `temporal workflow show
// --output json` does, which worker.WorkflowReplayer reads.
func saveHistory(t *testing.T, c client.Client, workflowID, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	it := c.GetWorkflowHistory(ctx, workflowID, "", true, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", workflowID, err)
		}
		h.Events = append(h.Events, e)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s (%d events)", path, len(h.Events))
}
