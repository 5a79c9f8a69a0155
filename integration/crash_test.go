package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
)

// buildWorker compiles the real worker binary once per test.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	cmd := exec.Command("go", "build", "-o", bin, "./worker")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	return bin
}

// startWorkerProcess runs the worker binary against the test server.
func startWorkerProcess(t *testing.T, bin, queue, ledgerDSN string, fake *openaitest.Server) *exec.Cmd {
	t.Helper()
	return startWorkerProcessAt(t, bin, server.Address, server.Namespace, queue, ledgerDSN, fake)
}

// startWorkerProcessAt runs the worker binary against the server at addr.
func startWorkerProcessAt(t *testing.T, bin, addr, namespace, queue, ledgerDSN string, fake *openaitest.Server) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "--address", addr, "--namespace", namespace, "--task-queue", queue,
		"--ledger-dsn", ledgerDSN, "--metrics-addr", "", "--log-level", "warn", "--provider", "openai",
		"--openai-base-url", fake.URL(), "--vision-model", openaitest.DefaultVisionModel,
		"--models", testModel.ID+":1000:2000:500", "--blob-dir", t.TempDir())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// A worker killed in the middle of a saga (during the model call) is
// replaced, the saga finishes on the new worker, and the job is charged
// exactly once.
func TestBillingWorkerKilledMidSaga(t *testing.T) {
	skipShort(t)
	bin := buildWorker(t)
	fake := openaitest.New()
	t.Cleanup(fake.Close)
	fake.ForCompletion().SetDefault(openaitest.Text("done").WithDelay(3 * time.Second).
		WithUsage(provider.Usage{PromptTokens: 150, CompletionTokens: 50, TotalTokens: 200}))
	dsn := filepath.Join(t.TempDir(), "ledger.db")
	l, err := ledger.Open(context.Background(), ledger.Config{DSN: dsn, Catalog: []ledger.Model{testModel}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Credit(context.Background(), "kim", 10_000_000, "seed-kim"); err != nil {
		t.Fatal(err)
	}

	queue := uniqueQueue(t)
	first := startWorkerProcess(t, bin, queue, dsn, fake)
	c := &inferflow.Client{Temporal: dial(t), TaskQueue: queue}
	ctx := ctxFor(t, 3*time.Minute)
	waitExpirySchedule(t, ctx, c.Temporal)
	run, err := c.StartInference(ctx, job("kim", "crash", ""))
	if err != nil {
		t.Fatal(err)
	}
	// Kill the worker while the model call is in flight.
	if err := fake.WaitRequests(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(-first.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	desc, err := c.Temporal.DescribeWorkflow(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	if p := desc.RawResponse.GetPendingActivities(); len(p) != 1 || p[0].GetActivityType().GetName() != wire.ActivityCallModel {
		t.Fatalf("pending activities when the worker died = %v", p)
	}

	startWorkerProcess(t, bin, queue, dsn, fake)
	var res wire.InferenceResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Success || res.Data.Usage.TotalTokens != 200 {
		t.Fatalf("result = %+v", res)
	}
	holds, err := l.Holds(ctx, "kim")
	if err != nil || len(holds) != 1 || holds[0].Status != ledger.HoldCaptured {
		t.Fatalf("holds = %+v, %v", holds, err)
	}
	want := testModel.Cost(150, 50)
	if b, _ := l.Balance(ctx, "kim"); b.Spent != want || b.Held != 0 {
		t.Fatalf("balance = %+v, want exactly one capture of %d", b, want)
	}
	if rep, err := l.Audit(ctx); err != nil || len(rep.Violations) > 0 {
		t.Fatalf("audit = %+v, %v", rep, err)
	}
	// The model ran again on the new worker (the first answer died with the
	// worker); billing happened once.
	if n := fake.RequestsFor(openaitest.KindCompletion); n != 2 {
		t.Logf("model requests = %d", n)
	}
}

// waitExpirySchedule checks that the worker created the hold-expiry sweep
// schedule at start.
func waitExpirySchedule(t *testing.T, ctx context.Context, c client.Client) {
	t.Helper()
	for {
		desc, err := c.ScheduleClient().GetHandle(ctx, workflows.ExpireHoldsScheduleID).Describe(ctx)
		if err == nil {
			action, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
			if !ok || action.Workflow != "ExpireHolds" {
				t.Fatalf("schedule action = %#v", desc.Schedule.Action)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the worker did not create the %s schedule: %v", workflows.ExpireHoldsScheduleID, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
