package chaosrun

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// workerArgs are what each worker process is started with.
type workerArgs struct {
	bin       string
	server    TemporalServer
	queue     string
	ledgerDSN string
	baseURL   string
	models    string
	dir       string // logs and blobs
}

// worker is one supervised worker process: killed on purpose by the run,
// started again by it; an exit the run did not cause is counted and also
// restarted.
type worker struct {
	n    int
	args workerArgs

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	starts   int
	unplaned int // exits the run did not cause
}

func (w *worker) start() error {
	a := w.args
	logf, err := os.OpenFile(filepath.Join(a.dir, fmt.Sprintf("worker-%d.log", w.n)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(a.bin, "--address", a.server.HostPort(), "--namespace", a.server.Namespace(), "--task-queue", a.queue,
		"--ledger-dsn", a.ledgerDSN, "--metrics-addr", "", "--codec-addr", "", "--log-level", "warn", "--log-mode", "prod",
		"--provider", "openai", "--openai-base-url", a.baseURL, "--vision-model", "fake-vision",
		"--models", a.models, "--blob-dir", filepath.Join(a.dir, "blobs"), "--dial-timeout", "60s",
		"--provider-http-timeout", "30s", "--sweep-every", "10s")
	// The run's settings only: no payload keys or connection profile from
	// the caller's environment (the run's client has neither).
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INFERFLOW_") && !strings.HasPrefix(kv, "TEMPORAL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start worker %d: %w", w.n, err)
	}
	exited := make(chan struct{})
	go func() { // ends when the process does
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	w.mu.Lock()
	w.cmd, w.exited = cmd, exited
	w.starts++
	w.mu.Unlock()
	return nil
}

// kill sends SIGKILL to the worker's process group and waits for it.
func (w *worker) kill() {
	w.mu.Lock()
	cmd, exited := w.cmd, w.exited
	w.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// stop interrupts the worker (a graceful stop), killing it after 15 s.
func (w *worker) stop() {
	w.mu.Lock()
	cmd, exited := w.cmd, w.exited
	w.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		w.kill()
	}
}

// watch restarts the worker whenever it exits without the run killing it,
// until ctx ends. It returns when ctx ends.
func (w *worker) watch(ctx context.Context, killing *sync.Mutex, logf func(string, ...any)) {
	for {
		w.mu.Lock()
		exited := w.exited
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-exited:
		}
		// A kill by the run holds killing until it restarted the worker.
		killing.Lock()
		w.mu.Lock()
		same := w.exited == exited
		w.mu.Unlock()
		if same && ctx.Err() == nil {
			w.mu.Lock()
			w.unplaned++
			w.mu.Unlock()
			if w.unplaned == 1 || w.unplaned%10 == 0 {
				logf("worker %d exited on its own (exit #%d; see worker-%d.log); starting it again in 1 s", w.n, w.unplaned, w.n)
			}
			// As a service manager would (systemd RestartSec=1): a worker
			// that cannot start (its ledger is down) is not restarted hot.
			_ = sleep(ctx, time.Second)
			for ctx.Err() == nil {
				if err := w.start(); err == nil {
					break
				}
				_ = sleep(ctx, time.Second)
			}
		}
		killing.Unlock()
	}
}
