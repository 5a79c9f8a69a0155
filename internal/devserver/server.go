package devserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
)

// Options say which server to start.
type Options struct {
	CLI     string // temporal binary; FindCLI when empty
	EnvFile string // temporal-dev.yaml
	Env     string // "dev"
	// FreePorts moves the server to free loopback ports, in memory, without
	// the Web UI: for tests that must not collide with a running server.
	FreePorts bool
	// DBFile, with FreePorts, keeps state in this SQLite file instead of
	// memory, so the env file's SQLite pragmas apply (benchmarks).
	DBFile string
	// Ports, with FreePorts, are the frontend, metrics and HTTP ports of an
	// earlier start (Server.Ports), so a restarted server comes back at the
	// same address.
	Ports  []int
	Output io.Writer // server log; discarded when nil
}

// Server is a running dev server started by Start.
type Server struct {
	Address   string
	Namespace string
	UIURL     string // empty when headless
	Ports     []int  // with FreePorts: frontend, metrics and HTTP ports
	cmd       *exec.Cmd
	exited    chan error
}

// FindCLI locates the temporal binary: $TEMPORAL_CLI, the project's
// .tools/bin (built by `make temporal`), then PATH.
func FindCLI(projectRoot string) (string, error) {
	if p := os.Getenv("TEMPORAL_CLI"); p != "" {
		return p, nil
	}
	local := filepath.Join(projectRoot, ".tools", "bin", "temporal")
	if st, err := os.Stat(local); err == nil && !st.IsDir() {
		return local, nil
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", errors.New("temporal CLI not found: run `make temporal` (builds it into .tools/bin) or set TEMPORAL_CLI")
}

// Start launches the dev server and waits until its frontend answers.
func Start(ctx context.Context, o Options) (*Server, error) {
	s, err := Load(o.EnvFile, o.Env)
	if err != nil {
		return nil, err
	}
	overrides := map[string]string{}
	addr := s.Flags["address"]
	uiPort := s.Flags["ui-port"]
	if o.FreePorts {
		ports := o.Ports
		if len(ports) != 3 {
			var err error
			if ports, err = freePorts(3); err != nil {
				return nil, err
			}
		}
		ip := "127.0.0.1"
		overrides["ip"] = ip
		overrides["port"] = strconv.Itoa(ports[0])
		overrides["metrics-port"] = strconv.Itoa(ports[1])
		overrides["http-port"] = strconv.Itoa(ports[2])
		overrides["db-filename"] = o.DBFile // "" = in memory
		addr = net.JoinHostPort(ip, overrides["port"])
		uiPort = ""
	} else if db := s.Flags["db-filename"]; db != "" {
		if err := os.MkdirAll(filepath.Dir(db), 0o755); err != nil {
			return nil, fmt.Errorf("db-filename folder: %w", err)
		}
	}
	args := append([]string{"--env-file", o.EnvFile, "--env", o.Env}, s.ServerArgs(overrides)...)
	if o.FreePorts {
		args = append(args, "--headless")
	}
	cmd := exec.Command(o.CLI, args...)
	out := o.Output
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group, so a Ctrl-C in the terminal reaches the caller
	// first and the caller stops the server in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.CLI, err)
	}
	srv := &Server{Address: addr, Namespace: orDefault(s.Flags["namespace"], "default"), cmd: cmd, exited: make(chan error, 1)}
	if o.FreePorts {
		srv.Ports = []int{atoi(overrides["port"]), atoi(overrides["metrics-port"]), atoi(overrides["http-port"])}
	}
	if uiPort != "" {
		srv.UIURL = "http://" + net.JoinHostPort(orDefault(s.Flags["ui-ip"], orDefault(s.Flags["ip"], "localhost")), uiPort)
	}
	go func() { srv.exited <- cmd.Wait() }()
	if err := srv.waitReady(ctx, 90*time.Second); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	return srv, nil
}

// Ready reports whether a server answers at addr.
func Ready(ctx context.Context, addr, namespace string) bool {
	c, err := client.DialContext(ctx, client.Options{HostPort: addr, Namespace: namespace, Logger: quiet})
	if err != nil {
		return false
	}
	defer c.Close()
	_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err == nil
}

func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok := Ready(attempt, s.Address, s.Namespace)
		cancel()
		if ok {
			return nil
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			return fmt.Errorf("temporal dev server exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("temporal dev server not ready at %s after %s", s.Address, limit)
		}
	}
}

// Stop interrupts the server and waits for it, killing it after 10 s.
func (s *Server) Stop() error {
	if s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	return nil
}

// Done yields the process exit status when the server exits.
func (s *Server) Done() <-chan error { return s.exited }

func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// quiet drops the SDK's connection-retry noise while polling.
var quiet = log.NewStructuredLogger(slog.New(slog.DiscardHandler))

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
