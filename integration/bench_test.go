package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	lat := make([]time.Duration, b.N)
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	b.ResetTimer()
	began := time.Now()
	for i := range b.N {
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
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "wf/s")
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
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
	for _, inflight := range []int{1, 16} {
		b.Run(fmt.Sprintf("bare/inflight=%d", inflight), func(b *testing.B) {
			runLoad(b, inflight, func(ctx context.Context, i int) (client.WorkflowRun, error) {
				return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: benchID("bare-saga", i), TaskQueue: queue, EnableEagerStart: true}, bareSagaShape)
			})
		})
		b.Run(fmt.Sprintf("saga/inflight=%d", inflight), func(b *testing.B) {
			starter := &inferflow.Client{Temporal: c, TaskQueue: queue}
			runLoad(b, inflight, func(ctx context.Context, i int) (client.WorkflowRun, error) {
				return starter.StartInference(ctx, wire.InferenceInput{UserID: "bench", JobID: benchID("job", i),
					Payload: wire.InferencePayload{ModelID: "offline-small", PromptTokens: 100, Prompt: "benchmark"}})
			})
		})
	}
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
	mw := worker.New(c, wire.ModelCallQueue(queue), worker.Options{DisableWorkflowWorker: true})
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
