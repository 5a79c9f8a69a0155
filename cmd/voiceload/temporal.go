package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/ledger"
)

// temporalBackend is what the realtime process records and bills through
// with -temporal dev: a dev server this tool started and a worker process
// on a credited SQLite ledger.
type temporalBackend struct {
	root   string
	server *devserver.Server
	worker string // worker binary
	dir    string
}

func startTemporal(ctx context.Context, root, dir string) (*temporalBackend, error) {
	cli, err := devserver.FindCLI(root)
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "temporal.log"))
	if err != nil {
		return nil, err
	}
	srv, err := devserver.Start(ctx, devserver.Options{CLI: cli, EnvFile: filepath.Join(root, "temporal-dev.yaml"),
		Env: "dev", FreePorts: true, Output: logf})
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("dev server: %w", err)
	}
	worker := filepath.Join(dir, "worker")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", worker, "./worker")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = srv.Stop()
		return nil, fmt.Errorf("go build ./worker: %w\n%s", err, out)
	}
	return &temporalBackend{root: root, server: srv, worker: worker, dir: dir}, nil
}

func (t *temporalBackend) stop() error { return t.server.Stop() }

// workerProc is a worker process for one load level.
type workerProc struct {
	cmd    *exec.Cmd
	exited chan error
}

// startWorker credits every caller's user in a fresh ledger and starts a
// worker on queue with it.
func (t *temporalBackend) startWorker(ctx context.Context, queue string, creds []callerCreds) (*workerProc, error) {
	dsn := filepath.Join(t.dir, queue+"-ledger.db")
	l, err := ledger.Open(ctx, ledger.Config{DSN: dsn})
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	for _, c := range creds {
		if err := l.Credit(ctx, c.user, 1_000_000_000, "voiceload-"+c.user); err != nil {
			l.Close()
			return nil, fmt.Errorf("credit %s: %w", c.user, err)
		}
	}
	l.Close()
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(t.dir, queue+"-worker.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(t.worker)
	cmd.Env = append(os.Environ(),
		"TEMPORAL_ADDRESS="+t.server.Address,
		"TEMPORAL_NAMESPACE="+t.server.Namespace,
		"INFERFLOW_TASK_QUEUE="+queue,
		"INFERFLOW_LEDGER_DSN="+dsn,
		"INFERFLOW_METRICS_ADDR="+metrics,
		"INFERFLOW_LOG_MODE=prod",
		"INFERFLOW_LOG_LEVEL=warn",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	w := &workerProc{cmd: cmd, exited: make(chan error, 1)}
	go func() { w.exited <- cmd.Wait() }()
	select {
	case err := <-w.exited:
		return nil, fmt.Errorf("worker exited at start: %v (log: %s)", err, logf.Name())
	case <-time.After(2 * time.Second): // registered and polling by then
	}
	return w, nil
}

func (w *workerProc) stop() error {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
		return nil
	case <-time.After(20 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
		return errors.New("worker did not stop within 20 s: killed")
	}
}
