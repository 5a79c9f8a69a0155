package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/wire"
)

// prefixedCatalog is the shipped sample catalog with each item id
// prefixed, so tests sharing the dev server do not share evaluations.
func prefixedCatalog(t *testing.T, prefix string, n int) string {
	t.Helper()
	src := filepath.Join(root, "testdata", "catalog")
	data, err := os.ReadFile(filepath.Join(src, "items.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for i, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if i == n {
			break
		}
		var it inferflow.CatalogItem
		if err := json.Unmarshal(line, &it); err != nil {
			t.Fatal(err)
		}
		it.ItemID = prefix + it.ItemID
		it.Image = filepath.Join(src, it.Image)
		b, _ := json.Marshal(it)
		out.Write(append(b, '\n'))
	}
	path := filepath.Join(t.TempDir(), "items.jsonl")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// countingJudge counts judge calls: one per evaluation that got that far.
type countingJudge struct {
	inner provider.Judge
	calls atomic.Int64
}

func (j *countingJudge) Judge(ctx context.Context, req provider.JudgeRequest) (provider.JudgeOutput, error) {
	j.calls.Add(1)
	return j.inner.Judge(ctx, req)
}

func readResultLines(t *testing.T, blobs blob.Dir, ref *wire.BlobRef) map[string]wire.BatchResultLine {
	t.Helper()
	if ref == nil {
		t.Fatal("no results file")
	}
	data, err := blob.Dir{Root: blobs.Root, MaxSize: 64 << 20}.Get(context.Background(), *ref)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]wire.BatchResultLine{}
	for line := range bytes.Lines(data) {
		var l wire.BatchResultLine
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[l.ItemID]; dup {
			t.Errorf("%s has two result lines", l.ItemID)
		}
		out[l.ItemID] = l
	}
	return out
}

// A batch over the sample catalog, cancelled part way and started again:
// the second run evaluates only what the first did not, continues as new
// along the way, and the results file has one line per item.
func TestBatchCancelThenResume(t *testing.T) {
	skipShort(t)
	models, err := provider.New(provider.Config{})
	if err != nil {
		t.Fatal(err)
	}
	judge := &countingJudge{inner: models.Judge}
	models.Judge = judge
	c := dial(t)
	queue := uniqueQueue(t)
	blobs := blob.Dir{Root: t.TempDir()}
	startWorker(t, c, queue, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Models: models, Blobs: blobs, Temporal: c})
	})
	fc := &inferflow.Client{Temporal: c, TaskQueue: queue, Blobs: blob.Dir{Root: blobs.Root, MaxSize: wire.MaxBatchItemsBytes}}
	ctx := ctxFor(t, 4*time.Minute)
	f, err := os.Open(prefixedCatalog(t, queue+"-", 200))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ref, n, err := fc.StoreCatalog(ctx, f, "")
	if err != nil || n != 200 {
		t.Fatalf("store catalog: %d items, %v", n, err)
	}
	req := inferflow.BatchRequest{ItemsRef: &ref, Concurrency: 8, ItemsPerRun: 50}
	run, err := fc.StartBatch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// Cancel once some items are done.
	for {
		p, err := fc.BatchProgress(ctx, run)
		if err == nil && p.Done() >= 60 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the batch made no progress")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.CancelWorkflow(ctx, run.GetID(), ""); err != nil {
		t.Fatal(err)
	}
	partial, err := fc.BatchResult(ctx, run)
	if !errors.Is(err, inferflow.ErrBatchCancelled) {
		t.Fatalf("after cancel: %v, want ErrBatchCancelled", err)
	}
	if done := partial.Counts.Done(); done < 60 || done >= 200 || len(readResultLines(t, blobs, partial.Results)) != done {
		t.Fatalf("cancelled batch: %+v; want its settled items written", partial.Counts)
	}
	judgedBefore := judge.calls.Load()

	// Started again: a new run of the same batch.
	run, err = fc.StartBatch(ctx, req)
	if err != nil || run.Attached {
		t.Fatalf("restart: %v (attached %v), want a new run", err, run != nil && run.Attached)
	}
	res, err := fc.BatchResult(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 200 || res.Counts.Succeeded+res.Counts.Degraded != 200 {
		t.Fatalf("resumed batch: %+v, want 200 evaluated", res)
	}
	if lines := readResultLines(t, blobs, res.Results); len(lines) != 200 {
		t.Fatalf("%d result lines, want 200", len(lines))
	}
	// Items evaluated before the cancel were not evaluated again: the judge
	// ran once per item, plus at most the window cancelled mid-evaluation.
	if judged := judge.calls.Load(); judged < 200 || judged > 200+int64(req.Concurrency) {
		t.Errorf("judge called %d times (%d before the cancel), want 200 (+ at most %d cancelled in flight)", judged, judgedBefore, req.Concurrency)
	}
	// Each run stays within ItemsPerRun: the batch continued as new.
	desc, err := c.DescribeWorkflow(ctx, run.GetID(), "")
	if err != nil {
		t.Fatal(err)
	}
	if events := desc.RawResponse.GetWorkflowExecutionInfo().GetHistoryLength(); events > 400 {
		t.Errorf("last run's history has %d events; continue-as-new should bound it", events)
	}

	// A third start of the completed batch attaches to it, evaluating nothing.
	again, err := fc.StartBatch(ctx, req)
	if err != nil || !again.Attached {
		t.Fatalf("start of a completed batch: %v, want attached", err)
	}
}

// With the provider's rate enforced by the fake (429 past its limit in any
// one second) and the model-call queue's ceiling set to half of it (the
// server's limiter is a token bucket whose burst can double the rate within
// one second, CONTRACT.md#provider-limits), the batch finishes with no item
// failed and the provider never sees more than its rate.
func TestBatchHoldsProviderRateLimit(t *testing.T) {
	skipShort(t)
	const providerLimit = 8
	const perSecond = providerLimit / 2
	fake := openaitest.New()
	t.Cleanup(fake.Close)
	fake.LimitRate(providerLimit)
	models, err := provider.New(fake.Config())
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t)
	queue := uniqueQueue(t)
	blobs := blob.Dir{Root: t.TempDir()}
	register := func(w worker.Worker) { registry.Register(w, registry.Deps{Models: models, Blobs: blobs, Temporal: c}) }
	startWorkerWith(t, c, queue, worker.Options{}, register)
	// Two model-call workers: the rate holds across both.
	for range 2 {
		startWorkerWith(t, c, wire.ModelCallQueue(queue), worker.Options{TaskQueueActivitiesPerSecond: perSecond}, register)
	}
	fc := &inferflow.Client{Temporal: c, TaskQueue: queue, Blobs: blobs}
	ctx := ctxFor(t, 3*time.Minute)
	const items = 10 // 40 model calls: 10 s at the ceiling
	var list []wire.ConsensusInput
	img := itemImage(t)
	for i := range items {
		list = append(list, wire.ConsensusInput{ItemID: fmt.Sprintf("%s-%02d", queue, i), Image: wire.Image{MediaType: wire.MediaTypePNG, Data: img}})
	}
	run, err := fc.StartBatch(ctx, inferflow.BatchRequest{BatchID: queue, Items: list, Concurrency: items})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := fc.BatchResult(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if res.Counts.Failed != 0 || res.Counts.Succeeded+res.Counts.Degraded != items {
		t.Errorf("result %+v: want every item evaluated, none failed", res.Counts)
	}
	if res.Counts.Degraded != 0 {
		t.Errorf("%d items degraded: some vision calls failed", res.Counts.Degraded)
	}
	if fake.RateLimited() != 0 || fake.MaxPerSecond() > providerLimit {
		t.Errorf("the provider answered %d requests 429 and saw up to %d a second; want 0 and at most %d", fake.RateLimited(), fake.MaxPerSecond(), providerLimit)
	}
	if min := time.Duration(fake.Requests()/perSecond-1) * time.Second; took < min {
		t.Errorf("%d calls took %v; at %d a second they take at least %v", fake.Requests(), took, perSecond, min)
	}
	t.Logf("%d model calls in %v, at most %d in one second", fake.Requests(), took.Round(time.Millisecond), fake.MaxPerSecond())
}

// The starter shows progress; Ctrl-C leaves the batch running and says how
// to re-attach; the same command re-attaches and writes the results.
func TestBatchStarterInterruptAndReattach(t *testing.T) {
	skipShort(t)
	models, err := provider.New(provider.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t)
	queue := uniqueQueue(t)
	blobDir := t.TempDir()
	// A slow judge, so the batch is still running when the starter is stopped.
	models.Judge = slowJudge{models.Judge, 100 * time.Millisecond}
	startWorker(t, c, queue, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Models: models, Blobs: blob.Dir{Root: blobDir}, Temporal: c})
	})
	bin := filepath.Join(t.TempDir(), "starter")
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "starter")).CombinedOutput(); err != nil {
		t.Fatalf("build starter: %v\n%s", err, out)
	}
	items := prefixedCatalog(t, queue+"-", 100)
	out := filepath.Join(t.TempDir(), "results.jsonl")
	args := []string{"batch", "--items", items, "--concurrency", "4", "--out", out}
	env := append(os.Environ(), "TEMPORAL_ADDRESS="+server.Address, "INFERFLOW_TASK_QUEUE="+queue, "INFERFLOW_BLOB_DIR="+blobDir)

	cmd := exec.Command(bin, args...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	sc := bufio.NewScanner(stderr)
	sc.Split(scanCRLF)
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "running") && strings.Contains(sc.Text(), "items/s") && !strings.Contains(sc.Text(), " 0/100") {
			break // the progress bar moves
		}
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
	}
	_ = cmd.Wait()
	if !strings.Contains(seen.String(), "keeps running. Re-attach with:") || !strings.Contains(seen.String(), "starter batch --items "+items) {
		t.Fatalf("after Ctrl-C the starter said:\n%s", seen.String())
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("results written before the batch finished")
	}
	cmd = exec.Command(bin, args...)
	cmd.Env = env
	outb, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("re-attach: %v\n%s", err, outb)
	}
	if !strings.Contains(string(outb), "attached to batch") {
		t.Errorf("the second command did not attach:\n%s", outb)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(data, []byte("\n")); n != 100 {
		t.Errorf("results file has %d lines, want 100", n)
	}
}

type slowJudge struct {
	inner provider.Judge
	d     time.Duration
}

func (j slowJudge) Judge(ctx context.Context, req provider.JudgeRequest) (provider.JudgeOutput, error) {
	time.Sleep(j.d)
	return j.inner.Judge(ctx, req)
}

// scanCRLF splits on \n and on the \r a progress bar redraws with.
func scanCRLF(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
