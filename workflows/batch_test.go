package workflows

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/activities"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/wire"
)

// fakeEvaluations stands in for ConsensusEvaluation: each item takes a
// second (its id may ask for a failure), and in-flight and per-item runs
// are counted.
type fakeEvaluations struct {
	mu          sync.Mutex
	inFlight    int
	maxInFlight int
	runs        map[string]int
	took        time.Duration
}

func (f *fakeEvaluations) evaluate(ctx workflow.Context, in wire.ConsensusInput) (*wire.ConsensusResult, error) {
	f.mu.Lock()
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.runs[in.ItemID]++
	runs := f.runs[in.ItemID]
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inFlight--; f.mu.Unlock() }()
	took := f.took
	if took == 0 {
		took = time.Second
	}
	if err := workflow.Sleep(ctx, took); err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(in.ItemID, "transient") && runs == 1:
		return nil, temporal.NewNonRetryableApplicationError("Quorum not met", string(wire.CodeQuorumNotMet), nil,
			wire.ConsensusFailure{ItemID: in.ItemID, RetryStrategy: wire.RetryWithBackoff})
	case strings.HasPrefix(in.ItemID, "bad"):
		return nil, temporal.NewNonRetryableApplicationError("Quorum not met", string(wire.CodeQuorumNotMet), nil,
			wire.ConsensusFailure{ItemID: in.ItemID, RetryStrategy: wire.NoRetry})
	}
	return &wire.ConsensusResult{ItemID: in.ItemID, Degraded: strings.HasPrefix(in.ItemID, "degraded"),
		Judge: wire.JudgeResult{ConsensusValue: 42}}, nil
}

func (f *fakeEvaluations) runsOf(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[id]
}

// batchEnv is a test environment with the batch, the fake evaluations, the
// real blob activities and an AwaitEvaluation that reports what the fake
// evaluations did.
func batchEnv(t *testing.T, f *fakeEvaluations, blobs blob.Dir) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ConsensusBatch, workflow.RegisterOptions{Name: wire.WorkflowConsensusBatch})
	env.RegisterWorkflowWithOptions(f.evaluate, workflow.RegisterOptions{Name: wire.WorkflowConsensusEvaluation})
	a := &activities.Batch{Blobs: blobs}
	for name, fn := range map[string]any{
		wire.ActivityCountBatchItems: a.CountBatchItems, wire.ActivityReadBatchItems: a.ReadBatchItems,
		wire.ActivityWriteBatchResults: a.WriteBatchResults, wire.ActivityAssembleBatchResults: a.AssembleBatchResults,
	} {
		env.RegisterActivityWithOptions(fn, activityName(name))
	}
	// The earlier outcome, as the fake evaluations decide it.
	env.RegisterActivityWithOptions(func(_ context.Context, id string) (wire.EvaluationOutcome, error) {
		if strings.HasPrefix(id, "transient") {
			return wire.EvaluationOutcome{Status: wire.EvaluationFailed, Line: wire.FailedLine(id, wire.CodeQuorumNotMet, "", wire.RetryWithBackoff, nil)}, nil
		}
		if strings.HasPrefix(id, "bad") {
			return wire.EvaluationOutcome{Status: wire.EvaluationFailed, Line: wire.FailedLine(id, wire.CodeQuorumNotMet, "", wire.NoRetry, nil)}, nil
		}
		return wire.EvaluationOutcome{Status: wire.EvaluationCompleted, Line: wire.ResultLine(wire.ConsensusResult{ItemID: id})}, nil
	}, activityName(wire.ActivityAwaitEvaluation))
	return env
}

func newFake() *fakeEvaluations { return &fakeEvaluations{runs: map[string]int{}} }

func items(ids ...string) []wire.ConsensusInput {
	out := make([]wire.ConsensusInput, len(ids))
	for i, id := range ids {
		out[i] = wire.ConsensusInput{ItemID: id}
	}
	return out
}

func numbered(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return ids
}

// readResults reads a batch's results file.
func readResults(t *testing.T, blobs blob.Dir, ref *wire.BlobRef) []wire.BatchResultLine {
	t.Helper()
	if ref == nil {
		return nil
	}
	data, err := blobs.Get(context.Background(), *ref)
	if err != nil {
		t.Fatal(err)
	}
	var out []wire.BatchResultLine
	for line := range bytes.Lines(data) {
		var l wire.BatchResultLine
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("result line %q: %v", line, err)
		}
		out = append(out, l)
	}
	return out
}

func TestBatchWindowBoundsInFlight(t *testing.T) {
	for _, n := range []int{1, 4, 30} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f, blobs := newFake(), blob.Dir{Root: t.TempDir()}
			env := batchEnv(t, f, blobs)
			ids := append(numbered("ok", 23), "degraded-1", "bad-1")
			env.ExecuteWorkflow(wire.WorkflowConsensusBatch, wire.BatchInput{BatchID: "b1", Items: items(ids...), Concurrency: n})
			var res wire.BatchResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if want := min(n, len(ids)); f.maxInFlight != want {
				t.Errorf("at most %d evaluations in flight, want %d", f.maxInFlight, want)
			}
			want := wire.BatchCounts{Succeeded: 23, Degraded: 1, Failed: 1, FailedByCode: map[wire.Code]int{wire.CodeQuorumNotMet: 1}}
			if res.Total != 25 || fmt.Sprint(res.Counts) != fmt.Sprint(want) {
				t.Errorf("result %+v, want total 25 and %+v", res, want)
			}
			lines := readResults(t, blobs, res.Results)
			if len(lines) != 25 {
				t.Fatalf("%d result lines, want 25", len(lines))
			}
			for _, l := range lines {
				if l.ItemID == "bad-1" && (l.Status != wire.ItemFailed || l.Error.Code != wire.CodeQuorumNotMet || l.Error.RetryStrategy != wire.NoRetry) {
					t.Errorf("bad-1: %+v, want failed QUORUM_NOT_MET no_retry", l)
				}
			}
		})
	}
}

func TestBatchRejectsBadInput(t *testing.T) {
	for name, tt := range map[string]struct {
		in    wire.BatchInput
		field string
	}{
		"no items":         {wire.BatchInput{BatchID: "b", Concurrency: 1}, "items"},
		"zero concurrency": {wire.BatchInput{BatchID: "b", Items: items("a")}, "concurrency"},
		"huge concurrency": {wire.BatchInput{BatchID: "b", Items: items("a"), Concurrency: wire.MaxBatchConcurrency + 1}, "concurrency"},
		"too many inline":  {wire.BatchInput{BatchID: "b", Items: items(numbered("x", wire.MaxInlineBatchItems+1)...), Concurrency: 1}, "items"},
		"no batch id":      {wire.BatchInput{Items: items("a"), Concurrency: 1}, "batchId"},
	} {
		t.Run(name, func(t *testing.T) {
			env := batchEnv(t, newFake(), blob.Dir{Root: t.TempDir()})
			env.ExecuteWorkflow(wire.WorkflowConsensusBatch, tt.in)
			checkBatchRefusal(t, env.GetWorkflowError(), tt.in.BatchID, tt.field)
		})
	}
}

// checkBatchRefusal wants a non-retryable VALIDATION_FAILED naming field in
// its message and in its details' invalidFields.
func checkBatchRefusal(t *testing.T, err error, batchID, field string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != string(wire.CodeValidationFailed) || !appErr.NonRetryable() ||
		!strings.Contains(appErr.Message(), field+":") {
		t.Fatalf("error %v, want VALIDATION_FAILED naming %s", err, field)
	}
	var details wire.BatchFailure
	if err := appErr.Details(&details); err != nil {
		t.Fatalf("details: %v", err)
	}
	if details.BatchID != batchID || details.RetryStrategy != wire.NoRetry ||
		len(details.InvalidFields) == 0 || details.InvalidFields[0].Field != field {
		t.Fatalf("details %+v, want batch %q, no_retry, invalidFields naming %s", details, batchID, field)
	}
}

// JSON of the wrong type is refused naming the field: the batch's own (the
// SDK would otherwise fail every workflow task on the decode) and an inline
// item's (which would otherwise be evaluated with the field at its default).
func TestBatchRejectsWrongJSONTypes(t *testing.T) {
	for _, tt := range []struct{ name, input, field string }{
		{"concurrency as a string", `{"batchId":"b","items":[{"itemId":"a"}],"concurrency":"5"}`, "concurrency"},
		{"item quorum as a string", `{"batchId":"b","items":[{"itemId":"a","options":{"quorum":"2"}}],"concurrency":1}`, "items[0].options.quorum"},
		{"item not an object", `{"batchId":"b","items":[{"itemId":"a"},7],"concurrency":1}`, "items[1]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			env := batchEnv(t, f, blob.Dir{Root: t.TempDir()})
			env.ExecuteWorkflow(wire.WorkflowConsensusBatch, json.RawMessage(tt.input))
			checkBatchRefusal(t, env.GetWorkflowError(), "b", tt.field)
		})
	}
}

// storeItems writes ids as an items file; one line is not an item.
func storeItems(t *testing.T, blobs blob.Dir, ids []string, junk bool) wire.BlobRef {
	t.Helper()
	var buf bytes.Buffer
	for i, id := range ids {
		if junk && i == 3 {
			buf.WriteString("{not json\n\n")
		}
		line, _ := json.Marshal(wire.ConsensusInput{ItemID: id})
		buf.Write(append(line, '\n'))
	}
	ref, err := blobs.Put(context.Background(), buf.Bytes(), activities.MediaTypeJSONL)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// A batch continues as new after ItemsPerRun items with its cursor, counts
// and written results; the runs together evaluate each item once and the
// results file has every line.
func TestBatchContinuesAsNew(t *testing.T) {
	f, blobs := newFake(), blob.Dir{Root: t.TempDir()}
	ids := numbered("ok", 450)
	ref := storeItems(t, blobs, ids, true)
	in := wire.BatchInput{BatchID: "b1", ItemsRef: &ref, Concurrency: 50, ItemsPerRun: 150}
	var res wire.BatchResult
	for run := 1; ; run++ {
		if run > 6 {
			t.Fatal("the batch did not finish in 6 runs")
		}
		env := batchEnv(t, f, blobs)
		env.ExecuteWorkflow(wire.WorkflowConsensusBatch, in)
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if errors.As(err, &can) {
			if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
				t.Fatal(err)
			}
			if in.State == nil || in.State.Runs != run || len(in.State.Parts) != run {
				t.Fatalf("run %d carried state %+v", run, in.State)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		if run != 4 {
			t.Errorf("finished in %d runs, want 4 (150 items a run)", run)
		}
		break
	}
	if res.Total != 451 || res.Counts.Succeeded != 450 || res.Counts.FailedByCode[wire.CodeValidationFailed] != 1 {
		t.Errorf("result %+v, want 450 succeeded and the junk line failed", res)
	}
	lines := readResults(t, blobs, res.Results)
	if len(lines) != 451 {
		t.Fatalf("%d result lines, want 451", len(lines))
	}
	for _, id := range ids {
		if n := f.runsOf(id); n != 1 {
			t.Fatalf("%s evaluated %d times", id, n)
		}
	}
}

// A second batch over items evaluated before reads their outcomes instead
// of evaluating them again; with RetryFailed it re-runs only the retryable
// failures.
func TestBatchResumeAndRetryFailed(t *testing.T) {
	for _, retry := range []bool{false, true} {
		t.Run(fmt.Sprintf("retryFailed=%v", retry), func(t *testing.T) {
			f, blobs := newFake(), blob.Dir{Root: t.TempDir()}
			env := batchEnv(t, f, blobs)
			first, all := items("ok-1", "transient-1", "bad-1"), items("ok-1", "transient-1", "bad-1", "ok-2")
			// The first batch as a child of a test workflow, then a second one
			// over more items in the same environment, so the second meets the
			// first's evaluations.
			env.RegisterWorkflowWithOptions(func(ctx workflow.Context) (*wire.BatchResult, error) {
				cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: "batch-first"})
				if err := workflow.ExecuteChildWorkflow(cctx, wire.WorkflowConsensusBatch, wire.BatchInput{BatchID: "first", Items: first, Concurrency: 3}).Get(ctx, nil); err != nil {
					return nil, err
				}
				var res wire.BatchResult
				cctx = workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: "batch-second"})
				err := workflow.ExecuteChildWorkflow(cctx, wire.WorkflowConsensusBatch, wire.BatchInput{BatchID: "second", Items: all, Concurrency: 3, RetryFailed: retry}).Get(ctx, &res)
				return &res, err
			}, workflow.RegisterOptions{Name: "twoBatches"})
			env.ExecuteWorkflow("twoBatches")
			var res wire.BatchResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			wantTransient := 1
			if retry {
				wantTransient = 2
			}
			for id, want := range map[string]int{"ok-1": 1, "bad-1": 1, "ok-2": 1, "transient-1": wantTransient} {
				if got := f.runsOf(id); got != want {
					t.Errorf("%s evaluated %d times, want %d", id, got, want)
				}
			}
			wantCounts := wire.BatchCounts{Succeeded: 2, Failed: 2}
			if retry {
				wantCounts = wire.BatchCounts{Succeeded: 3, Failed: 1}
			}
			if res.Counts.Succeeded != wantCounts.Succeeded || res.Counts.Failed != wantCounts.Failed {
				t.Errorf("counts %+v, want %+v", res.Counts, wantCounts)
			}
			if lines := readResults(t, blobs, res.Results); len(lines) != 4 {
				t.Errorf("%d result lines, want 4", len(lines))
			}
		})
	}
}

// Cancelling a batch cancels its running evaluations, starts no more, and
// still writes the lines of the items that settled.
func TestBatchCancel(t *testing.T) {
	f, blobs := newFake(), blob.Dir{Root: t.TempDir()}
	f.took = 10 * time.Second
	env := batchEnv(t, f, blobs)
	env.RegisterDelayedCallback(env.CancelWorkflow, 15*time.Second)
	env.ExecuteWorkflow(wire.WorkflowConsensusBatch, wire.BatchInput{BatchID: "b1", Items: items(numbered("ok", 10)...), Concurrency: 2})
	err := env.GetWorkflowError()
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		t.Fatalf("error %v, want cancelled", err)
	}
	var res wire.BatchResult
	if err := canceled.Details(&res); err != nil {
		t.Fatal(err)
	}
	if res.Counts.Succeeded != 2 || res.Counts.Failed != 0 {
		t.Errorf("counts %+v, want the 2 items done before the cancel", res.Counts)
	}
	if lines := readResults(t, blobs, res.Results); len(lines) != 2 {
		t.Errorf("%d result lines, want 2", len(lines))
	}
	started := 0
	for _, id := range numbered("ok", 10) {
		started += f.runsOf(id)
	}
	if started != 4 {
		t.Errorf("%d evaluations started, want 4 (2 done, 2 cancelled, the rest never started)", started)
	}
	if f.inFlight != 0 {
		t.Errorf("%d evaluations still running after the cancel", f.inFlight)
	}
}

func TestBatchProgressQuery(t *testing.T) {
	f, blobs := newFake(), blob.Dir{Root: t.TempDir()}
	env := batchEnv(t, f, blobs)
	var p wire.BatchProgress
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(wire.QueryProgress)
		if err != nil {
			t.Error(err)
			return
		}
		if err := v.Get(&p); err != nil {
			t.Error(err)
		}
	}, 2500*time.Millisecond)
	env.ExecuteWorkflow(wire.WorkflowConsensusBatch, wire.BatchInput{BatchID: "b1", Items: items(append(numbered("ok", 9), "bad-1")...), Concurrency: 2})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	// At 2.5 s: two rounds of two one-second items are done, two run.
	if p.Total != 10 || p.Succeeded != 4 || p.Running != 2 || p.ItemsPerSecond < 1.5 || p.ItemsPerSecond > 1.7 || p.EstimatedSecondsLeft < 3.5 || p.EstimatedSecondsLeft > 4 {
		t.Errorf("progress %+v", p)
	}
}

func activityName(name string) activity.RegisterOptions { return activity.RegisterOptions{Name: name} }

// Model calls go to the model-call queue, where the provider's limits hold;
// the rest stays on the workflow's queue.
func TestModelCallsUseTheModelQueue(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ConsensusEvaluation, workflow.RegisterOptions{Name: wire.WorkflowConsensusEvaluation})
	var mu sync.Mutex
	queues := map[string]string{}
	record := func(ctx context.Context) {
		mu.Lock()
		defer mu.Unlock()
		queues[activity.GetInfo(ctx).ActivityType.Name] = activity.GetInfo(ctx).TaskQueue
	}
	env.RegisterActivityWithOptions(func(ctx context.Context, in wire.VisionInput) (wire.VisionResult, error) {
		record(ctx)
		return wire.VisionResult{CallIndex: in.CallIndex, Value: 10, Confidence: 0.5}, nil
	}, activityName(wire.ActivityVisionCall))
	env.RegisterActivityWithOptions(func(ctx context.Context, in wire.JudgeInput) (wire.JudgeResult, error) {
		record(ctx)
		return wire.JudgeResult{ConsensusValue: 10, Confidence: 0.5}, nil
	}, activityName(wire.ActivityJudgeCall))
	env.ExecuteWorkflow(wire.WorkflowConsensusEvaluation, validInput(t))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := wire.ModelCallQueue("default-test-taskqueue")
	if queues[wire.ActivityVisionCall] != want || queues[wire.ActivityJudgeCall] != want {
		t.Errorf("model calls ran on %v, want %s", queues, want)
	}
}
