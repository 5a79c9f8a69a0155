package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildRealtime compiles ./realtime into dir and returns the binary's path.
func buildRealtime(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "realtime")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./realtime")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./realtime: %w\n%s", err, out)
	}
	return bin, nil
}

// freeAddr returns a loopback TCP address nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// caller is one session's credentials: a token of its own billing a user
// of its own, so the per-token limit is never what refuses a call.
type callerCreds struct{ token, user string }

func credentials(n int) []callerCreds {
	out := make([]callerCreds, n)
	for i := range out {
		out[i] = callerCreds{token: fmt.Sprintf("voiceload-token-%04d", i), user: fmt.Sprintf("load-user-%04d", i)}
	}
	return out
}

// realtimeProc is the realtime process under test.
type realtimeProc struct {
	cmd       *exec.Cmd
	pid       string
	whipURL   string
	pprofAddr string
	exited    chan error
}

type realtimeOptions struct {
	bin          string
	creds        []callerCreds
	temporalAddr string // where it looks for Temporal (may be unreachable)
	taskQueue    string
	logPath      string
	extraEnv     []string
}

// startRealtime starts the realtime process on free loopback ports, sized
// for len(creds) calls, and waits until its WHIP endpoint answers.
func startRealtime(ctx context.Context, o realtimeOptions) (*realtimeProc, error) {
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	prof, err := freeAddr()
	if err != nil {
		return nil, err
	}
	toks := make([]string, len(o.creds))
	for i, c := range o.creds {
		toks[i] = c.token + ":" + c.user
	}
	logf, err := os.Create(o.logPath)
	if err != nil {
		return nil, fmt.Errorf("realtime log: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(o.bin)
	cmd.Env = append(os.Environ(),
		"INFERFLOW_REALTIME_ADDR="+listen,
		"INFERFLOW_REALTIME_METRICS_ADDR="+metrics,
		"INFERFLOW_REALTIME_PPROF_ADDR="+prof,
		"INFERFLOW_REALTIME_TOKENS="+strings.Join(toks, ","),
		"INFERFLOW_REALTIME_MAX_SESSIONS="+strconv.Itoa(len(o.creds)),
		"INFERFLOW_REALTIME_MAX_SESSIONS_PER_TOKEN=1",
		"INFERFLOW_REALTIME_INCLUDE_LOOPBACK=true",
		"INFERFLOW_LOG_MODE=prod",
		"INFERFLOW_LOG_LEVEL=warn",
		"TEMPORAL_ADDRESS="+o.temporalAddr,
		"INFERFLOW_TASK_QUEUE="+o.taskQueue,
	)
	cmd.Env = append(cmd.Env, o.extraEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a Ctrl-C reaches us first; we stop it in order
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.bin, err)
	}
	p := &realtimeProc{cmd: cmd, pid: strconv.Itoa(cmd.Process.Pid), whipURL: "http://" + listen + "/whip",
		pprofAddr: prof, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	if err := p.waitReady(ctx, o.creds[0].token, 30*time.Second); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("%w (log: %s)", err, o.logPath)
	}
	return p, nil
}

func (p *realtimeProc) waitReady(ctx context.Context, token string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	for {
		// Any HTTP answer (404 for a session that does not exist) means
		// the endpoint is up.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.whipURL+"/not-a-session", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			return fmt.Errorf("realtime exited before it was ready: %v", err)
		case <-ctx.Done():
			return errors.New("realtime did not answer in time")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends the process with SIGTERM (it ends its calls in order), then
// SIGKILL if it takes too long.
func (p *realtimeProc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err
		return nil
	case <-time.After(25 * time.Second):
		_ = p.cmd.Process.Kill()
		err := <-p.exited
		p.exited <- err
		return errors.New("realtime did not stop within 25 s after SIGTERM: killed")
	}
}
