package integration

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/temporalclient"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/registry"
)

// readmeBlocks returns the shell blocks of README.md marked readme-test.
func readmeBlocks(t *testing.T) []string {
	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []string
	var cur *strings.Builder
	marked := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "<!-- readme-test -->":
			marked = true
		case marked && cur == nil && strings.HasPrefix(line, "```sh"):
			cur = &strings.Builder{}
		case cur != nil && strings.HasPrefix(line, "```"):
			blocks = append(blocks, cur.String())
			cur, marked = nil, false
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

// The README's commands work as printed, against a dev server and a worker
// with the README's defaults (task queue inferflow, offline provider).
func TestReadmeCommands(t *testing.T) {
	skipShort(t)
	blocks := readmeBlocks(t)
	if len(blocks) < 4 {
		t.Fatalf("found %d readme-test blocks in README.md", len(blocks))
	}
	tmp := t.TempDir()
	dsn := filepath.Join(tmp, "ledger.db")
	blobs := filepath.Join(tmp, "blobs")
	l, err := ledger.Open(context.Background(), ledger.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	models, _ := provider.New(provider.Config{})
	c := dial(t)
	startWorker(t, c, temporalclient.DefaultTaskQueue, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Models: models, Blobs: blob.Dir{Root: blobs}, Ledger: l, Temporal: c, Environment: "readme"})
	})

	cli, err := devserver.FindCLI(root)
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"PATH="+filepath.Dir(cli)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"TEMPORAL_ADDRESS="+server.Address, // for the starter
		"INFERFLOW_LEDGER_DSN="+dsn,
		"INFERFLOW_BLOB_DIR="+blobs,
	)
	dir := mirrorRoot(t, server.Address)
	for i, block := range blocks {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", block)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("README block %d failed: %v\n--- block\n%s--- output\n%s", i+1, err, block, out)
		}
		for _, bad := range []string{`"errorCode"`, "Status          FAILED"} {
			if strings.Contains(string(out), bad) {
				t.Fatalf("README block %d reports a failure:\n%s", i+1, out)
			}
		}
		t.Logf("README block %d:\n%s", i+1, out)
	}
	if b, err := l.Balance(context.Background(), "alice"); err != nil || b.Spent == 0 {
		t.Fatalf("alice's balance after the README's jobs = %+v, %v", b, err)
	}
}

// mirrorRoot is the project seen through symlinks, except temporal-dev.yaml,
// whose address points at the test server: the Temporal CLI takes the
// address from the env file over TEMPORAL_ADDRESS, and the README's commands
// must run exactly as printed.
func mirrorRoot(t *testing.T, address string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "temporal-dev.yaml" {
			continue
		}
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	yaml, err := os.ReadFile(filepath.Join(root, "temporal-dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(yaml), "\n")
	found := false
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "address:") {
			lines[i] = line[:strings.Index(line, "address:")] + "address: " + address
			found = true
		}
	}
	if !found {
		t.Fatal("temporal-dev.yaml has no address")
	}
	if err := os.WriteFile(filepath.Join(dir, "temporal-dev.yaml"), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
