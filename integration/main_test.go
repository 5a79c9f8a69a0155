// Package integration runs the workflows on a real `temporal server
// start-dev` (configured by temporal-dev.yaml, moved to free ports) with real
// workers, providers, blob store and ledgers. `go test -short` skips it.
package integration

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/logging"
	"github.com/inferflow/inferflow/internal/payloadkeys"
	"github.com/inferflow/inferflow/pkg/payloadcrypt"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/wire"
)

var (
	server *devserver.Server
	root   string // project root
	// suiteKeys encrypt the payloads of every test's client when
	// INFERFLOW_PAYLOAD_KEYS(_FILE) is set (the suite then runs as `make run`
	// does); nil: in clear, except the tests that encrypt on their own.
	suiteKeys *payloadcrypt.Keyring
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("integration: skipped in -short mode")
		os.Exit(m.Run())
	}
	var err error
	root, err = filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cli, err := devserver.FindCLI(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(1)
	}
	var keys payloadkeys.Config
	s := envflag.New("integration")
	keys.Register(s)
	if err := s.Parse(nil); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(2)
	}
	suiteKeys, _ = keys.Keyring() // checked by Parse
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	logf, _ := os.CreateTemp("", "temporal-dev-*.log")
	// Tests run on an in-memory server; benchmarks on a database file, as
	// `make run` does, so the env file's SQLite settings are measured too.
	dbFile, dbDir := "", ""
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		// INFERFLOW_BENCH_ADDRESS runs the benchmarks on a server already
		// running there (`make bench-cluster`: the production topology)
		// instead of a dev server of their own.
		if addr := os.Getenv("INFERFLOW_BENCH_ADDRESS"); addr != "" {
			cancel()
			logf.Close()
			os.Remove(logf.Name())
			ns := os.Getenv("INFERFLOW_BENCH_NAMESPACE")
			if ns == "" {
				ns = "default"
			}
			fmt.Printf("integration: benchmarks on the server at %s, namespace %s\n", addr, ns)
			server = &devserver.Server{Address: addr, Namespace: ns}
			os.Exit(m.Run())
		}
		dbDir, _ = os.MkdirTemp("", "temporal-bench-")
		dbFile = filepath.Join(dbDir, "temporal.db")
	}
	server, err = devserver.Start(ctx, devserver.Options{
		CLI: cli, EnvFile: filepath.Join(root, "temporal-dev.yaml"), Env: "dev", FreePorts: true, DBFile: dbFile, Output: logf,
	})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration: start dev server:", err, "log:", logf.Name())
		os.Exit(1)
	}
	code := m.Run()
	_ = server.Stop()
	if dbDir != "" {
		os.RemoveAll(dbDir)
	}
	logf.Close()
	if code == 0 {
		os.Remove(logf.Name())
	} else {
		fmt.Println("integration: dev server log kept at", logf.Name())
	}
	os.Exit(code)
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a dev server")
	}
}

// dial returns a client of the test server that logs into the test, with
// the suite's payload keys.
func dial(t *testing.T) client.Client { t.Helper(); return dialKeys(t, suiteKeys) }

// dialKeys returns a client whose payloads keys encrypt (nil: in clear).
func dialKeys(t *testing.T, keys *payloadcrypt.Keyring) client.Client {
	t.Helper()
	z := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	opts := payloadcrypt.ClientOptions(client.Options{HostPort: server.Address, Namespace: server.Namespace, Logger: logging.NewSDK(z)}, keys)
	c, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

var queueSeq atomic.Int64

// uniqueQueue gives each test its own task queue, so each test's worker
// (with its own fake provider) gets only that test's tasks.
func uniqueQueue(t *testing.T) string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return fmt.Sprintf("%s-%d-%d", name, os.Getpid(), queueSeq.Add(1))
}

// startWorker runs a worker on queue, and one on its model-call queue,
// until the test ends.
func startWorker(t *testing.T, c client.Client, queue string, register func(worker.Worker)) {
	t.Helper()
	startWorkerWith(t, c, queue, worker.Options{}, register)
	startWorkerWith(t, c, wire.ModelCallQueue(queue), worker.Options{}, register)
}

func startWorkerWith(t *testing.T, c client.Client, queue string, opts worker.Options, register func(worker.Worker)) {
	t.Helper()
	w := worker.New(c, queue, registry.WorkerOptions(opts))
	register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
