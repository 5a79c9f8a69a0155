package integration

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/chaosrun"
	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/providerplan"
	"github.com/inferflow/inferflow/wire"
)

// TestChaosShort is `make chaos` for about a minute: the same run
// (internal/chaosrun) against a dev server of its own on a database file,
// with the SQLite ledger. Every invariant holds, and every kind of fault
// was actually injected: workers killed, the server restarted, the ledger
// locked, the provider failing in each way.
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
		Duration: 60 * time.Second, Seed: 10, Starters: 3, DrainTimeout: 4 * time.Minute, Dir: dir, Out: &out})
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
