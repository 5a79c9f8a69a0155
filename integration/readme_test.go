package integration

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/payloadkeys"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/temporalclient"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/pkg/payloadcrypt"
	"github.com/inferflow/inferflow/registry"
)

// readmeBlock is a shell block of README.md marked readme-test. A block
// marked `readme-test: fails CODE` shows a refusal: it must exit non-zero
// and print CODE.
type readmeBlock struct {
	script string
	fails  string
}

// readmeBlocks returns the shell blocks of README.md marked readme-test.
func readmeBlocks(t *testing.T) []readmeBlock {
	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []readmeBlock
	var cur *strings.Builder
	marked, fails := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch trimmed := strings.TrimSpace(line); {
		case trimmed == "<!-- readme-test -->":
			marked, fails = true, ""
		case strings.HasPrefix(trimmed, "<!-- readme-test: fails ") && strings.HasSuffix(trimmed, " -->"):
			marked, fails = true, strings.TrimSuffix(strings.TrimPrefix(trimmed, "<!-- readme-test: fails "), " -->")
		case marked && cur == nil && strings.HasPrefix(line, "```sh"):
			cur = &strings.Builder{}
		case cur != nil && strings.HasPrefix(line, "```"):
			blocks = append(blocks, readmeBlock{script: cur.String(), fails: fails})
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
	// Payloads encrypted as under `make run`: a generated key file, the
	// worker's codec server, the env file's codec endpoint pointing at it.
	keyFile := filepath.Join(tmp, "dev-keys")
	if _, err := payloadcrypt.EnsureKeyFile(keyFile, time.Now()); err != nil {
		t.Fatal(err)
	}
	keys, err := payloadcrypt.LoadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := payloadkeys.ServerConfig{Addr: "127.0.0.1:0"}.Serve(keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(codec.Close)
	c := dialKeys(t, keys)
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
		payloadkeys.Settings.KeysFile.Env+"="+keyFile,
	)
	dir := mirrorRoot(t, server.Address, codec.URL())
	for i, block := range blocks {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", block.script)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		cancel()
		if block.fails != "" {
			// A refusal the README shows: an error, never a zero exit.
			var exit *exec.ExitError
			if !errors.As(err, &exit) || !strings.Contains(string(out), block.fails) {
				t.Fatalf("README block %d must fail with %s; got %v\n--- block\n%s--- output\n%s", i+1, block.fails, err, block.script, out)
			}
			t.Logf("README block %d (fails as shown):\n%s", i+1, out)
			continue
		}
		if err != nil {
			t.Fatalf("README block %d failed: %v\n--- block\n%s--- output\n%s", i+1, err, block.script, out)
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
// whose address and codec endpoint point at the test's server and codec
// server: the Temporal CLI takes them from the env file over TEMPORAL_*
// variables, and the README's commands must run exactly as printed.
func mirrorRoot(t *testing.T, address, codecURL string) string {
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
	codecFound := false
	for i, line := range lines {
		switch key := strings.TrimSpace(line); {
		case strings.HasPrefix(key, "address:"):
			lines[i] = line[:strings.Index(line, "address:")] + "address: " + address
			found = true
		case strings.HasPrefix(key, "codec-endpoint:"):
			lines[i] = line[:strings.Index(line, "codec-endpoint:")] + "codec-endpoint: " + codecURL
			codecFound = true
		}
	}
	if !found || !codecFound {
		t.Fatal("temporal-dev.yaml has no address or no codec-endpoint")
	}
	if err := os.WriteFile(filepath.Join(dir, "temporal-dev.yaml"), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
