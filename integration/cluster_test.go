package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/inferflow/inferflow/internal/cluster"
	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/internal/temporalversion"
	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
)

// startCluster brings up the production topology's server (`make
// cluster`'s) on scratch databases and free ports, and drops the databases
// when the test ends. It skips when `make temporal-server` has not run.
func startCluster(t *testing.T) (*cluster.Server, cluster.Postgres, string) {
	t.Helper()
	skipShort(t)
	ctx := ctxFor(t, 5*time.Minute)
	cliVersion, err := temporalversion.MakefileCLIVersion(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	bins, err := cluster.Locate(ctx, "", filepath.Join(root, ".tools", "bin"), cliVersion)
	var notBuilt *cluster.NotBuiltError
	if errors.As(err, &notBuilt) && os.Getenv("INFERFLOW_REQUIRE_CLUSTER") != "1" {
		t.Skipf("the production topology needs the Temporal server binary (INFERFLOW_REQUIRE_CLUSTER=1 makes this a failure): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	env, err := devserver.Load(filepath.Join(root, "temporal-dev.yaml"), "dev")
	if err != nil {
		t.Fatal(err)
	}
	ports, err := cluster.FreePorts()
	if err != nil {
		t.Fatal(err)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	prefix := fmt.Sprintf("inferflow_test_%d_%s", os.Getpid(), hex.EncodeToString(rnd[:]))
	pg := cluster.DefaultPostgres
	dir := t.TempDir()
	t.Cleanup(func() {
		// After the server (registered later, so it stops first).
		for _, db := range []string{cluster.PersistenceDB(prefix), cluster.VisibilityDB(prefix), prefix + "_ledger"} {
			if err := cluster.DropDatabase(context.Background(), pg, db); err != nil {
				t.Errorf("drop scratch database %s: %v", db, err)
			}
		}
	})
	began := time.Now()
	srv, err := cluster.Start(ctx, cluster.Options{
		Binaries: bins, Postgres: pg, DatabasePrefix: prefix, Fresh: true, Ports: ports, Dir: dir,
		Namespace: env.Flags["namespace"], SearchAttributes: workflows.SearchAttributes, DynamicConfig: env.DynamicConfig,
		Progress: func(step string) { t.Logf("cluster: %-40s %5.1fs", step, time.Since(began).Seconds()) },
	})
	if err != nil {
		var pgErr *cluster.PostgresError
		if errors.As(err, &pgErr) && os.Getenv("INFERFLOW_SKIP_POSTGRES") == "1" {
			t.Skipf("%v; skipped because INFERFLOW_SKIP_POSTGRES=1", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if log, err := os.ReadFile(srv.LogPath()); err == nil {
				t.Logf("server log (last 4 KiB):\n%s", log[max(0, len(log)-4096):])
			}
		}
		_ = srv.Stop()
	})
	t.Logf("cold start (databases, schemas, server %s, namespace, search attributes): %.1fs", bins.Version, time.Since(began).Seconds())
	return srv, pg, prefix + "_ledger"
}

// The production topology carries a consensus evaluation and a billed job
// (two worker processes, the PostgreSQL ledger) through a restart of the
// Temporal server in the middle of their model calls: both complete, the
// job is charged exactly once, and the ledger's books balance.
func TestProductionTopology(t *testing.T) {
	srv, pg, ledgerDB := startCluster(t)
	ctx := ctxFor(t, 5*time.Minute)

	if _, err := cluster.EnsureDatabase(ctx, pg, ledgerDB, true); err != nil {
		t.Fatal(err)
	}
	dsn := pg.DSN(ledgerDB)
	l, err := ledger.Open(ctx, ledger.Config{DSN: dsn, Catalog: []ledger.Model{testModel}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Credit(ctx, "pat", 10_000_000, "seed-pat"); err != nil {
		t.Fatal(err)
	}

	// Slow model answers, so the restart lands while the calls are in flight.
	fake := openaitest.New()
	t.Cleanup(fake.Close)
	const delay = 3 * time.Second
	fake.ForVision().SetDefault(openaitest.OK(120, 0.9).WithDelay(delay))
	fake.ForJudge().SetDefault(openaitest.Judged(121, 0.95, "close valuations"))
	fake.ForCompletion().SetDefault(openaitest.Text("done").WithDelay(delay).
		WithUsage(provider.Usage{PromptTokens: 150, CompletionTokens: 50, TotalTokens: 200}))

	bin := buildWorker(t)
	queue := uniqueQueue(t)
	for range 2 {
		startWorkerProcessAt(t, bin, srv.HostPort(), srv.Namespace(), queue, dsn, fake)
	}
	tc, err := client.Dial(client.Options{HostPort: srv.HostPort(), Namespace: srv.Namespace(), Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	c := &inferflow.Client{Temporal: tc, TaskQueue: queue}

	consensus, err := c.StartConsensus(ctx, inferflow.ConsensusRequest{ItemID: "topology-item", Image: itemImage(t)})
	if err != nil {
		t.Fatal(err)
	}
	saga, err := c.StartInference(ctx, job("pat", "topology-job", ""))
	if err != nil {
		t.Fatal(err)
	}
	// Three valuations and the job's model call are in flight.
	if err := fake.WaitRequests(ctx, 4); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("server restart (graceful stop, start, namespace served): %.1fs", time.Since(began).Seconds())

	var cres wire.ConsensusResult
	if err := consensus.Get(ctx, &cres); err != nil {
		t.Fatalf("consensus after the restart: %v", err)
	}
	if cres.Degraded || len(cres.Valuations) != 3 || cres.Judge.ConsensusValue != 121 {
		t.Fatalf("consensus result = %+v", cres)
	}
	var ires wire.InferenceResult
	if err := saga.Get(ctx, &ires); err != nil {
		t.Fatalf("billed job after the restart: %v", err)
	}
	if !ires.Success || ires.Data.Usage.TotalTokens != 200 {
		t.Fatalf("inference result = %+v", ires)
	}
	want := testModel.Cost(150, 50)
	if b, err := l.Balance(ctx, "pat"); err != nil || b.Spent != want || b.Held != 0 {
		t.Fatalf("balance = %+v, %v; want exactly one capture of %d", b, err, want)
	}
	if rep, err := l.Audit(ctx); err != nil || len(rep.Violations) > 0 {
		t.Fatalf("audit = %+v, %v", rep, err)
	}
	// Visibility (the PostgreSQL visibility store) lists the job by the
	// project's search attribute.
	var listed int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: srv.Namespace(), Query: fmt.Sprintf("%s = 'topology-job'", workflows.JobIDKey.GetName()),
		})
		if err == nil && len(resp.GetExecutions()) > 0 {
			listed = len(resp.GetExecutions())
			break
		}
	}
	if listed != 1 {
		t.Fatalf("visibility lists %d executions with JobId topology-job, want 1", listed)
	}
}
