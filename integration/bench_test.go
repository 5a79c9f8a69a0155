package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/wire"
)

// The floor the engine sets: the consensus shape (three parallel activities,
// then one) and the saga shape (three sequential activities) with no work.
func noop(context.Context) error { return nil }

func bareConsensusShape(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	fs := make([]workflow.Future, 3)
	for i := range fs {
		fs[i] = workflow.ExecuteActivity(ctx, noop)
	}
	for _, f := range fs {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return workflow.ExecuteActivity(ctx, noop).Get(ctx, nil)
}

func bareSagaShape(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	for range 3 {
		if err := workflow.ExecuteActivity(ctx, noop).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// runLoad starts b.N workflows, at most inflight at once, and reports
// throughput and latency percentiles.
func runLoad(b *testing.B, inflight int, start func(ctx context.Context, i int) (client.WorkflowRun, error)) {
	b.ResetTimer()
	elapsed, lat, err := load(b.N, inflight, start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "wf/s")
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// load runs n workflows, at most inflight at once, and returns the time
// they took and their latencies, sorted.
func load(n, inflight int, start func(ctx context.Context, i int) (client.WorkflowRun, error)) (time.Duration, []time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	lat := make([]time.Duration, n)
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	began := time.Now()
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			run, err := start(ctx, i)
			if err == nil {
				err = run.Get(ctx, nil)
			}
			lat[i] = time.Since(t0)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	slices.Sort(lat)
	return elapsed, lat, firstErr
}

// runPaired runs b.N workflows of each of two kinds, at most inflight at
// once, in 4 alternating rounds (a b, b a, a b, b a), and reports each
// kind's throughput and b's as a fraction of a's: on a machine shared with
// other work the ratio of two runs taken minutes apart says little.
func runPaired(b *testing.B, inflight int, a, bb func(ctx context.Context, i int) (client.WorkflowRun, error)) {
	const rounds = 4
	var took [2]time.Duration
	var done [2]int
	b.ResetTimer()
	for r := range rounds {
		n := b.N / rounds
		if r == rounds-1 {
			n = b.N - n*(rounds-1)
		}
		order := []int{0, 1}
		if r%2 == 1 {
			order = []int{1, 0}
		}
		for _, k := range order {
			elapsed, _, err := load(n, inflight, []func(context.Context, int) (client.WorkflowRun, error){a, bb}[k])
			if err != nil {
				b.Fatal(err)
			}
			took[k] += elapsed
			done[k] += n
		}
	}
	b.StopTimer()
	rate := func(k int) float64 { return float64(done[k]) / took[k].Seconds() }
	b.ReportMetric(rate(0), "bare-wf/s")
	b.ReportMetric(rate(1), "wf/s")
	b.ReportMetric(rate(1)/rate(0), "x-bare")
	b.ReportMetric(0, "ns/op")
}

var benchSeq int64

func benchID(prefix string, i int) string {
	return fmt.Sprintf("%s-%d-%d-%d", prefix, time.Now().UnixNano(), benchSeq, i)
}

// BenchmarkConsensus compares the consensus workflow (offline provider) with
// the bare shape of the same activities, on the same dev server and worker.
func BenchmarkConsensus(b *testing.B) {
	models, _ := provider.New(provider.Config{})
	c, queue := benchWorker(b, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Models: models, Blobs: blob.Dir{Root: b.TempDir()}})
		w.RegisterWorkflow(bareConsensusShape)
	})
	img := itemImage(b)
	for _, inflight := range []int{1, 16} {
		b.Run(fmt.Sprintf("bare/inflight=%d", inflight), func(b *testing.B) {
			runLoad(b, inflight, func(ctx context.Context, i int) (client.WorkflowRun, error) {
				return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: benchID("bare", i), TaskQueue: queue, EnableEagerStart: true}, bareConsensusShape)
			})
		})
		b.Run(fmt.Sprintf("consensus/inflight=%d", inflight), func(b *testing.B) {
			runLoad(b, inflight, func(ctx context.Context, i int) (client.WorkflowRun, error) {
				item := benchID("item", i)
				return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wire.ConsensusWorkflowID(item), TaskQueue: queue, EnableEagerStart: true},
					wire.WorkflowConsensusEvaluation, wire.ConsensusInput{ItemID: item, Image: wire.Image{MediaType: "image/png", Data: img}})
			})
		})
	}
}

// BenchmarkInferenceSaga measures the billed saga (offline model, SQLite
// ledger) beside the bare three-activity shape, so the saga's own overhead
// (local allowlist check, ledger transactions, search attribute upserts)
// shows as the difference.
func BenchmarkInferenceSaga(b *testing.B) {
	models, _ := provider.New(provider.Config{})
	l, err := ledger.Open(context.Background(), ledger.Config{DSN: filepath.Join(b.TempDir(), "ledger.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if err := l.Credit(context.Background(), "bench", 1<<40, "seed"); err != nil {
		b.Fatal(err)
	}
	c, queue := benchWorker(b, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Models: models, Ledger: l, Environment: "bench"})
		w.RegisterWorkflow(bareSagaShape)
	})
	bare := func(ctx context.Context, i int) (client.WorkflowRun, error) {
		return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: benchID("bare-saga", i), TaskQueue: queue, EnableEagerStart: true}, bareSagaShape)
	}
	starter := &inferflow.Client{Temporal: c, TaskQueue: queue}
	saga := func(ctx context.Context, i int) (client.WorkflowRun, error) {
		return starter.StartInference(ctx, wire.InferenceInput{UserID: "bench", JobID: benchID("job", i),
			Payload: wire.InferencePayload{ModelID: "offline-small", PromptTokens: 100, Prompt: "benchmark"}})
	}
	for _, inflight := range []int{1, 16} {
		b.Run(fmt.Sprintf("bare/inflight=%d", inflight), func(b *testing.B) { runLoad(b, inflight, bare) })
		b.Run(fmt.Sprintf("saga/inflight=%d", inflight), func(b *testing.B) { runLoad(b, inflight, saga) })
	}
	// The same at 16 in flight, alternating with the bare shape in one run.
	b.Run("paired/inflight=16", func(b *testing.B) { runPaired(b, 16, bare, saga) })
}

// benchWorker runs a worker with the bare no-op activity plus what register
// adds, on a queue of its own, until the benchmark ends.
func benchWorker(b *testing.B, register func(worker.Worker)) (client.Client, string) {
	if testing.Short() {
		b.Skip("needs a dev server")
	}
	c, err := client.Dial(client.Options{HostPort: server.Address, Namespace: server.Namespace, Logger: quiet{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	queue := fmt.Sprintf("bench-%s-%d", b.Name(), time.Now().UnixNano())
	w := worker.New(c, queue, worker.Options{})
	w.RegisterActivity(noop)
	register(w)
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
	// The model calls' queue (wire.ModelCallQueue), without limits.
	mw := worker.New(c, wire.ModelCallQueue(queue), worker.Options{})
	register(mw)
	if err := mw.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(mw.Stop)
	return c, queue
}

// quiet drops SDK logs during benchmarks.
type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}

// BenchmarkConsensusBatch evaluates one batch of 10,000 items
// (INFERFLOW_BENCH_BATCH_ITEMS overrides) with the offline provider and,
// first, on the same dev server and worker, single evaluations at the same
// concurrency, so the two rates compare. It reports items per second for
// both, the runs the batch took (continue-as-new) and the last run's
// history, and the benchmark process's peak heap (the worker runs in it).
// The figures are taken once, whatever -benchtime says.
func BenchmarkConsensusBatch(b *testing.B) {
	batchBench.Do(func() { batchBench.figures = runBatchBench(b) })
	for unit, v := range batchBench.figures {
		b.ReportMetric(v, unit)
	}
}

var batchBench struct {
	sync.Once
	figures map[string]float64
}

func runBatchBench(b *testing.B) map[string]float64 {
	const concurrency, singles = 50, 500
	items := 10_000
	if v, err := strconv.Atoi(os.Getenv("INFERFLOW_BENCH_BATCH_ITEMS")); err == nil && v > 0 {
		items = v
	}
	models, _ := provider.New(provider.Config{})
	blobs := blob.Dir{Root: b.TempDir(), MaxSize: wire.MaxBatchItemsBytes}
	c, queue := benchWorker(b, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Models: models, Blobs: blobs})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	ref, err := blobs.Put(ctx, itemImage(b), wire.MediaTypePNG)
	if err != nil {
		b.Fatal(err)
	}
	img := wire.Image{MediaType: wire.MediaTypePNG, Ref: &ref}
	prefix := benchID("batch", 0)

	// Single evaluations, concurrency at a time.
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	var failed atomic.Int64
	began := time.Now()
	for i := range singles {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			item := fmt.Sprintf("%s-single-%d", prefix, i)
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wire.ConsensusWorkflowID(item), TaskQueue: queue, EnableEagerStart: true},
				wire.WorkflowConsensusEvaluation, wire.ConsensusInput{ItemID: item, Image: img})
			if err == nil {
				err = run.Get(ctx, nil)
			}
			if err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	singleRate := float64(singles) / time.Since(began).Seconds()
	if failed.Load() > 0 {
		b.Fatalf("%d single evaluations failed", failed.Load())
	}

	// The batch.
	var lines bytes.Buffer
	for i := range items {
		line, _ := json.Marshal(wire.ConsensusInput{ItemID: fmt.Sprintf("%s-%d", prefix, i), Image: img})
		lines.Write(append(line, '\n'))
	}
	itemsRef, err := blobs.Put(ctx, lines.Bytes(), inferflow.MediaTypeJSONL)
	if err != nil {
		b.Fatal(err)
	}
	fc := &inferflow.Client{Temporal: c, TaskQueue: queue, Blobs: blobs}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // samples the heap until stop closes
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	began = time.Now()
	run, err := fc.StartBatch(ctx, inferflow.BatchRequest{BatchID: prefix, ItemsRef: &itemsRef, Concurrency: concurrency})
	if err != nil {
		b.Fatal(err)
	}
	res, err := fc.BatchResult(ctx, run)
	elapsed := time.Since(began)
	close(stop)
	<-sampled
	if err != nil {
		b.Fatal(err)
	}
	if res.Counts.Succeeded+res.Counts.Degraded != items {
		b.Fatalf("batch: %+v, want %d evaluated", res.Counts, items)
	}
	p, err := fc.BatchProgress(ctx, run)
	if err != nil {
		b.Fatal(err)
	}
	desc, err := c.DescribeWorkflow(ctx, run.GetID(), "")
	if err != nil {
		b.Fatal(err)
	}
	info := desc.RawResponse.GetWorkflowExecutionInfo()
	return map[string]float64{
		"batch-items/s":        float64(items) / elapsed.Seconds(),
		"single-items/s":       singleRate,
		"items":                float64(items),
		"runs":                 float64(p.Runs),
		"last-run-events":      float64(info.GetHistoryLength()),
		"last-run-history-KiB": float64(info.GetHistorySizeBytes()) / 1024,
		"peak-heap-MiB":        float64(peak.Load()) / (1 << 20),
		"heap-before-MiB":      float64(before.HeapInuse) / (1 << 20),
		"ns/op":                0,
	}
}
