package integration

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/chaosrun"
	"github.com/inferflow/inferflow/internal/cluster"
	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/providerplan"
	"github.com/inferflow/inferflow/wire"
)

// TestChaosShort is `make chaos` for about a minute: the same run
// (internal/chaosrun) against a dev server of its own on a database file,
// with the SQLite ledger. Every invariant holds, and every kind of fault
// was actually injected: workers killed, the server restarted, the ledger
// locked, the provider failing in each way, and the realtime process killed
// mid-call, with no call leaving a session, a hold, a gate or goroutines
// behind.
func TestChaosShort(t *testing.T) {
	skipShort(t)
	cli, err := devserver.FindCLI(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "temporal.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv, err := chaosrun.StartDevServer(ctx, chaosrun.DevServerOptions{CLI: cli, EnvFile: filepath.Join(root, "temporal-dev.yaml"),
		DBFile: filepath.Join(dir, "temporal.db"), Output: logf})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	var out bytes.Buffer
	sum, err := chaosrun.Run(ctx, chaosrun.Config{Server: srv, WorkerBin: buildWorker(t), Ledger: "sqlite",
		Duration: 60 * time.Second, Seed: 10, Starters: 3, DrainTimeout: 4 * time.Minute, Dir: dir, Out: &out,
		RealtimeBin: buildBinary(t, "./realtime"), VoiceFixture: filepath.Join(root, "internal/codec/testdata/speech-clean.opus.pkts")})
	sum.Print(&out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("chaos run: %v", err)
	}
	if !sum.Drained || len(sum.Violations) > 0 {
		t.Fatalf("drained %v, %d violations", sum.Drained, len(sum.Violations))
	}
	if sum.WorkerKills == 0 || sum.ServerRestarts == 0 || sum.LedgerOutages == 0 {
		t.Errorf("faults injected: %d kills, %d server restarts, %d ledger outages; want each", sum.WorkerKills, sum.ServerRestarts, sum.LedgerOutages)
	}
	for _, f := range providerplan.Faults {
		if sum.ProviderCalls[f] == 0 {
			t.Errorf("no provider call got %s: %v", f, sum.ProviderCalls)
		}
	}
	// Voice: calls made, the process killed under them, and its idle
	// readings taken (the goroutine check compares them).
	if sum.VoiceCalls == 0 || sum.VoiceSessions == 0 || sum.RealtimeKills == 0 || sum.Realtime.Calls < 3 || sum.Realtime.StartGoroutines == 0 {
		t.Errorf("voice: %d calls, %d sessions, %d realtime kills, %d calls to its last process (goroutines %d at start); want each, and 3 calls",
			sum.VoiceCalls, sum.VoiceSessions, sum.RealtimeKills, sum.Realtime.Calls, sum.Realtime.StartGoroutines)
	}
	if sum.Started[wire.WorkflowConsensusEvaluation] == 0 || sum.Started[wire.WorkflowInferenceJob] == 0 || sum.DuplicatesRefused == 0 {
		t.Errorf("load: started %v, %d duplicate starts refused; want both kinds and duplicates", sum.Started, sum.DuplicatesRefused)
	}
	if sum.Completed[wire.WorkflowConsensusEvaluation] == 0 || sum.Completed[wire.WorkflowInferenceJob] == 0 {
		t.Errorf("nothing completed under faults: %v", sum.Completed)
	}
	// The checks read something: outcomes against answers, and the ledger.
	if sum.ConsensusChecked == 0 || sum.Answers < sum.ConsensusChecked || sum.Holds == 0 || sum.JournalTx == 0 {
		t.Errorf("checked %d outcomes against %d answers, %d holds, %d journal transactions",
			sum.ConsensusChecked, sum.Answers, sum.Holds, sum.JournalTx)
	}
}

// TestChaosShortCluster is TestChaosShort against the production
// topology's server (`make chaos CHAOS_TOPOLOGY=cluster`'s: temporal-server
// on scratch PostgreSQL databases), with the PostgreSQL ledger, so the
// server-restart fault restarts the real server. It skips when `make
// temporal-server` has not run, unless INFERFLOW_REQUIRE_CLUSTER=1.
func TestChaosShortCluster(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	srv, err := chaosrun.StartCluster(ctx, chaosrun.ClusterOptions{Root: root, Dir: filepath.Join(dir, "cluster")})
	var notBuilt *cluster.NotBuiltError
	if errors.As(err, &notBuilt) && os.Getenv("INFERFLOW_REQUIRE_CLUSTER") != "1" {
		t.Skipf("chaos against the production topology needs the Temporal server binary (make temporal-server; INFERFLOW_REQUIRE_CLUSTER=1 makes this a failure): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop the cluster: %v", err)
		}
	}()

	var out bytes.Buffer
	sum, err := chaosrun.Run(ctx, chaosrun.Config{Server: srv, WorkerBin: buildWorker(t), Ledger: "postgres",
		Duration: 45 * time.Second, Seed: 11, Starters: 3, DrainTimeout: 4 * time.Minute, Dir: dir, Out: &out})
	sum.Print(&out)
	t.Log("\n" + out.String())
	if err != nil {
		if log, rerr := os.ReadFile(srv.LogPath()); rerr == nil {
			t.Logf("server log (last 4 KiB):\n%s", log[max(0, len(log)-4096):])
		}
		t.Fatalf("chaos run: %v", err)
	}
	if !sum.Drained || len(sum.Violations) > 0 {
		t.Fatalf("drained %v, %d violations", sum.Drained, len(sum.Violations))
	}
	if sum.WorkerKills == 0 || sum.ServerRestarts == 0 || sum.LedgerOutages == 0 || sum.RestartSkipped != "" {
		t.Errorf("faults injected: %d kills, %d restarts of the cluster's server (skipped: %q), %d ledger outages; want each",
			sum.WorkerKills, sum.ServerRestarts, sum.RestartSkipped, sum.LedgerOutages)
	}
	if sum.Completed[wire.WorkflowConsensusEvaluation] == 0 || sum.Completed[wire.WorkflowInferenceJob] == 0 {
		t.Errorf("nothing completed under faults: %v", sum.Completed)
	}
	if sum.ConsensusChecked == 0 || sum.Answers < sum.ConsensusChecked || sum.Holds == 0 || sum.JournalTx == 0 {
		t.Errorf("checked %d outcomes against %d answers, %d holds, %d journal transactions",
			sum.ConsensusChecked, sum.Answers, sum.Holds, sum.JournalTx)
	}
}
