package workflows_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
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
	// The saga after change claim-job: claimed and captured, a second run
	// refused (DUPLICATE_JOB), an answer past the hold billed as the hold.
	"saga-claimed",
	"saga-duplicate",
	"saga-overage",
	// The saga paths again on version 1 of billing-state-sparse (BillingState
	// upserted only for CLAIMED, final states and RECONCILIATION_REQUIRED).
	"saga-sparse-success",
	"saga-sparse-model-failure",
	"saga-sparse-capture-failure",
	// The saga on version 1 of saga-v3: the ledger steps as local
	// activities (LocalActivity markers), the claim and sparse upserts
	// implied by its one marker.
	"saga-v3-success",
	"saga-v3-model-failure",
	"saga-v3-capture-failure",
	"saga-v3-duplicate",
	// Version 1 of voice-owner-lease: a session with an owner and a 2 s
	// lease, a hold, two keep-alives, then silence: ORPHANED, hold released.
	// (voice-session and voice-cancelled stand for runs from before it.)
	"voice-orphaned",
	// Version 1 of voice-late-rebill: the second run of a session closed
	// ORPHANED with a response in flight; the response's completion finds
	// the released hold (a reserve conflict, then the hold at the session's
	// size, its capture refused HOLD_NOT_ACTIVE) and is billed under the
	// rebill key.
	"voice-late-rebill",
	// Version 1 of voice-reconcile-always: a response whose reserve
	// committed with every reply lost is recorded unbilled, and its
	// Reconcile starts with a RESERVE_UNCERTAIN record.
	"voice-reconcile-always",
	// Version 1 of reconcile-always on the saga: a reserve committed with
	// every reply lost and a DLQ record that could not be written; the job
	// ends INFRA_UNAVAILABLE and its Reconcile starts anyway, writes the
	// RESERVE_UNCERTAIN record itself and releases the hold.
	"saga-reconcile-always",
	"reconcile-reserve-uncertain",
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

// replayIDs are the workflow ids of recorded runs whose code reads its own
// id (the saga checks it is the job's): the replayer's default id would
// take another path than the recorded run did.
var replayIDs = map[string]string{
	"saga-claimed":   wire.InferenceWorkflowID("rec-claimed"),
	"saga-duplicate": wire.InferenceWorkflowID("rec-claimed"),
	"saga-overage":   wire.InferenceWorkflowID("rec-overage"),

	"saga-v3-success":         wire.InferenceWorkflowID("rec-v3-ok"),
	"saga-v3-duplicate":       wire.InferenceWorkflowID("rec-v3-ok"),
	"saga-v3-model-failure":   wire.InferenceWorkflowID("rec-v3-model-failure"),
	"saga-v3-capture-failure": wire.InferenceWorkflowID("rec-v3-capture-failure"),
	"saga-reconcile-always":   wire.InferenceWorkflowID("rec-reconcile-always"),
}

// replay replays a JSON history, as workflow id when it is not "".
func replay(r worker.WorkflowReplayer, path, id string) error {
	if id == "" {
		return r.ReplayWorkflowHistoryFromJSONFile(nil, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		return err
	}
	return r.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{OriginalExecution: workflow.Execution{ID: id}})
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
				if err := replay(r, filepath.Join(root, name+".json"), replayIDs[name]); err != nil {
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

// The saga-v3 histories hold what the change is for: no ledger step is a
// scheduled activity (each is a LocalActivity marker), and the run wrote
// one version marker, saga-v3's.
func TestSagaV3HistoriesRunLedgerLocally(t *testing.T) {
	ledger := []string{wire.ActivityClaimJob, wire.ActivityReserve, wire.ActivityCapture, wire.ActivityRelease}
	for _, name := range []string{"saga-v3-success", "saga-v3-model-failure", "saga-v3-capture-failure", "saga-v3-duplicate"} {
		t.Run(name, func(t *testing.T) {
			h := readHistory(t, name)
			var local, versions int
			for _, e := range h.GetEvents() {
				if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && slices.Contains(ledger, a.GetActivityType().GetName()) {
					t.Errorf("event %d schedules %s as a regular activity", e.GetEventId(), a.GetActivityType().GetName())
				}
				switch e.GetMarkerRecordedEventAttributes().GetMarkerName() {
				case "LocalActivity":
					local++
				case "Version":
					versions++
				}
			}
			// CheckModel and at least the claim.
			if local < 2 || versions != 1 {
				t.Errorf("%d LocalActivity markers (want at least 2), %d version markers (want 1)", local, versions)
			}
		})
	}
}

// voice-late-rebill took the path of its change: two version markers (the
// lease's at the start, voice-late-rebill's at the conflict) and a capture
// after the refused one.
func TestVoiceLateRebillHistory(t *testing.T) {
	h := readHistory(t, "voice-late-rebill")
	versions, reserves, captures := 0, 0, 0
	for _, e := range h.GetEvents() {
		if e.GetMarkerRecordedEventAttributes().GetMarkerName() == "Version" {
			versions++
		}
		switch e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() {
		case wire.ActivityReserve:
			reserves++
		case wire.ActivityCapture:
			captures++
		}
	}
	// Reserves: the usage's (conflict), the session size's, the rebill's.
	if versions != 2 || reserves != 3 || captures != 2 {
		t.Errorf("%d version markers, %d reserves, %d captures: want 2, 3, 2", versions, reserves, captures)
	}
}

// voice-reconcile-always took the path of its change: its version marker
// (beside voice-owner-lease's, asked at every start) and a Reconcile child
// started after the two failed reserves.
func TestVoiceReconcileAlwaysHistory(t *testing.T) {
	h := readHistory(t, "voice-reconcile-always")
	reserves := 0
	for _, e := range h.GetEvents() {
		if e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == wire.ActivityReserve {
			reserves++
		}
	}
	versions, reconciles := changeMarkers(h, "voice-reconcile-always"), reconcileChildren(h)
	if versions != 1 || reserves != 2 || reconciles != 1 {
		t.Errorf("%d version markers, %d reserves, %d Reconcile children: want 1, 2, 1", versions, reserves, reconciles)
	}
}

// saga-reconcile-always took the path of its change: its version marker,
// the DLQ write that failed, and the Reconcile child started anyway, whose
// own history writes the record and releases (its attempt resolved the job
// as RESERVATION_FAILED).
func TestSagaReconcileAlwaysHistory(t *testing.T) {
	h := readHistory(t, "saga-reconcile-always")
	dlqFailed := false
	for _, e := range h.GetEvents() {
		dlqFailed = dlqFailed || e.GetActivityTaskFailedEventAttributes() != nil
	}
	if versions, reconciles := changeMarkers(h, "reconcile-always"), reconcileChildren(h); versions != 1 || !dlqFailed || reconciles != 1 {
		t.Errorf("%d version markers, DLQ write failed %v, %d Reconcile children: want 1, true, 1", versions, dlqFailed, reconciles)
	}
	var in wire.ReconcileInput
	var out wire.ReconcileOutcome // the last attempt's
	completed := false
	for _, e := range readHistory(t, "reconcile-reserve-uncertain").GetEvents() {
		if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			_ = converter.GetDefaultDataConverter().FromPayload(a.GetInput().GetPayloads()[0], &in)
		}
		if a := e.GetActivityTaskCompletedEventAttributes(); a != nil {
			_ = converter.GetDefaultDataConverter().FromPayloads(a.GetResult(), &out)
		}
		completed = completed || e.GetWorkflowExecutionCompletedEventAttributes() != nil
	}
	if in.Type != wire.DLQReserveUncertain || in.Reserve == nil || in.Service != wire.DLQService ||
		!out.Resolved || out.State != wire.StateReservationFailed || !completed {
		t.Errorf("reconciliation of %+v ended %+v (completed %v): want a RESERVE_UNCERTAIN one naming the saga, resolved", in, out, completed)
	}
}

// changeMarkers counts h's version markers of change.
func changeMarkers(h *historypb.History, change string) int {
	n := 0
	for _, e := range h.GetEvents() {
		if m := e.GetMarkerRecordedEventAttributes(); m.GetMarkerName() == "Version" {
			var id string
			if err := converter.GetDefaultDataConverter().FromPayloads(m.GetDetails()["change-id"], &id); err == nil && id == change {
				n++
			}
		}
	}
	return n
}

// reconcileChildren counts the Reconcile workflows h started.
func reconcileChildren(h *historypb.History) int {
	n := 0
	for _, e := range h.GetEvents() {
		if e.GetStartChildWorkflowExecutionInitiatedEventAttributes().GetWorkflowType().GetName() == wire.WorkflowReconcile {
			n++
		}
	}
	return n
}

// The voice histories stand for both sides of voice-owner-lease: the runs
// from before it (no version marker: they replay on the inactivity timer
// alone) and a run on version 1 (the marker, a lease timer, ORPHANED).
func TestVoiceHistoriesSpanTheLeaseChange(t *testing.T) {
	for name, want := range map[string]int{"voice-session": 0, "voice-cancelled": 0, "voice-orphaned": 1} {
		t.Run(name, func(t *testing.T) {
			h := readHistory(t, name)
			versions, leaseTimers := 0, 0
			for _, e := range h.GetEvents() {
				if e.GetMarkerRecordedEventAttributes().GetMarkerName() == "Version" {
					versions++
				}
				if e.GetUserMetadata().GetSummary() != nil && strings.Contains(string(e.GetUserMetadata().GetSummary().GetData()), "owner lease") {
					leaseTimers++
				}
			}
			if versions != want || (leaseTimers > 0) != (want == 1) {
				t.Errorf("%d version markers, %d owner-lease timers: want %d markers, lease timers only on version 1", versions, leaseTimers, want)
			}
		})
	}
}

// readHistory reads the recorded history testdata/histories/<name>.json.
func readHistory(t *testing.T, name string) *historypb.History {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "histories", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
