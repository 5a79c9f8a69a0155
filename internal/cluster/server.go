// Package cluster runs the Temporal server as a user deploys it beyond one
// laptop: the real server binary (built from go.temporal.io/server at the
// version the CLI embeds, see `make temporal-server`) with PostgreSQL for
// persistence and visibility, its schemas set up by the server's own
// temporal-sql-tool, all four services (frontend, history, matching,
// worker) in one process. cmd/cluster (`make cluster`) and the integration
// tests start it; a chaos run restarts it through Restart.
package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Options say which cluster to run.
type Options struct {
	Binaries Binaries
	Postgres Postgres
	// DatabasePrefix names the databases: <prefix> for persistence and
	// <prefix>_visibility. Tests use scratch prefixes.
	DatabasePrefix string
	// Fresh drops both databases first.
	Fresh bool
	// Ports; zero: PortsFrom(DefaultFrontendPort).
	Ports Ports
	// Dir receives the config files (0600: they hold the database
	// password) and the server log.
	Dir string
	// Namespace is registered when missing ("default" when empty), with
	// Retention (3 days when zero).
	Namespace string
	Retention time.Duration
	// SearchAttributes are added to the namespace when missing (the
	// project's list: workflows.SearchAttributes).
	SearchAttributes []temporal.SearchAttributeKey
	// DynamicConfig are key=value settings (temporal-dev.yaml's
	// x-dynamic-config), so the cluster runs with the dev server's tuning.
	DynamicConfig []string
	// HistoryShards is fixed at the first start of a database (4 when 0).
	HistoryShards int
	// ReadyTimeout bounds each wait for the server (2 minutes when 0).
	ReadyTimeout time.Duration
	// Progress, when set, hears each step ("schemas ready", ...).
	Progress func(step string)
}

// Server is a running cluster. Its methods may be called from several
// goroutines (a chaos run restarts it while workflows run).
type Server struct {
	o       Options
	addr    string
	logPath string
	cfgDir  string

	mu   sync.Mutex
	proc *process
}

// process is one run of the server binary; exited closes when it ends.
type process struct {
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{}
	err    error // set before exited closes
}

// PersistenceDB and VisibilityDB are the database names of prefix.
func PersistenceDB(prefix string) string { return prefix }
func VisibilityDB(prefix string) string  { return prefix + "_visibility" }

// Start sets up the databases and schemas, writes the config, starts the
// server, waits until it serves, and makes sure the namespace and the
// search attributes exist.
func Start(ctx context.Context, o Options) (*Server, error) {
	if err := o.Binaries.Check(); err != nil {
		return nil, err
	}
	o.Postgres = o.Postgres.withDefaults()
	if o.DatabasePrefix == "" {
		return nil, errors.New("cluster: DatabasePrefix is required")
	}
	if o.Ports == (Ports{}) {
		o.Ports = PortsFrom(DefaultFrontendPort)
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Retention == 0 {
		o.Retention = 72 * time.Hour
	}
	if o.HistoryShards == 0 {
		o.HistoryShards = 4
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 2 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	s := &Server{
		o:       o,
		addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Ports.Frontend)),
		logPath: filepath.Join(o.Dir, "temporal-server.log"),
		cfgDir:  filepath.Join(o.Dir, "config"),
	}
	// Ports first: a cluster already running on them must not have its
	// databases dropped under it by -fresh.
	if err := o.Ports.checkFree(); err != nil {
		return nil, err
	}
	if err := s.setupDatabases(ctx); err != nil {
		return nil, err
	}
	o.Progress("schemas ready")
	if err := s.writeConfig(); err != nil {
		return nil, err
	}
	if err := s.launch(); err != nil {
		return nil, err
	}
	if err := s.waitServing(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	o.Progress("server serving")
	if err := s.ensureNamespace(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	o.Progress("namespace and search attributes ready")
	return s, nil
}

// HostPort is the frontend's address.
func (s *Server) HostPort() string { return s.addr }

// Namespace is the namespace the cluster set up.
func (s *Server) Namespace() string { return s.o.Namespace }

// LogPath is where the server's output goes (appended across restarts).
func (s *Server) LogPath() string { return s.logPath }

// Ports are the server's ports.
func (s *Server) Ports() Ports { return s.o.Ports }

// Restart stops the server process (gracefully, as a deploy would) and
// starts it again on the same databases and ports, waiting until it serves
// the namespace.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	if err := s.launch(); err != nil {
		return err
	}
	if err := s.waitServing(ctx); err != nil {
		return err
	}
	return s.waitNamespace(ctx)
}

// Stop interrupts the server and waits for it to exit, killing it after
// 20 s. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	p.log.Close()
	return nil
}

// Done closes when the current server process exits (nil when none runs);
// after a Restart, ask again.
func (s *Server) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	return s.proc.exited
}

// setupDatabases creates the two databases when missing and brings their
// schemas to the server's version with temporal-sql-tool: setup-schema
// -v 0.0 (the version table) on a database without it, then update-schema
// over the server's versioned folder, which applies what is newer.
func (s *Server) setupDatabases(ctx context.Context) error {
	for _, db := range []struct{ name, store string }{
		{PersistenceDB(s.o.DatabasePrefix), "temporal"},
		{VisibilityDB(s.o.DatabasePrefix), "visibility"},
	} {
		if _, err := EnsureDatabase(ctx, s.o.Postgres, db.name, s.o.Fresh); err != nil {
			return err
		}
		versioned, err := hasTable(ctx, s.o.Postgres, db.name, "schema_version")
		if err != nil {
			return err
		}
		if !versioned {
			if err := s.sqlTool(ctx, db.name, "setup-schema", "-v", "0.0"); err != nil {
				return err
			}
		}
		if err := s.sqlTool(ctx, db.name, "update-schema", "-d", s.o.Binaries.schemaPath(db.store)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) sqlTool(ctx context.Context, database, step string, args ...string) error {
	pg := s.o.Postgres
	full := append([]string{"--plugin", "postgres12", "--endpoint", pg.Host, "--port", strconv.Itoa(pg.Port),
		"--user", pg.User, "--database", database, step}, args...)
	cmd := exec.CommandContext(ctx, s.o.Binaries.SQLTool, full...)
	// The password by environment, not argv, which any user may read.
	cmd.Env = append(os.Environ(), "SQL_PASSWORD="+pg.Password)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return &SchemaError{Database: database, Step: step, Output: lastLines(out.String(), 15), Err: err}
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// clusterEnv is the config's environment name: the server loads
// <config dir>/<env>.yaml.
const clusterEnv = "inferflow"

func (s *Server) writeConfig() error {
	if err := os.MkdirAll(s.cfgDir, 0o700); err != nil {
		return err
	}
	dyn, err := renderDynamicConfig(s.o.DynamicConfig)
	if err != nil {
		return err
	}
	dynPath := filepath.Join(s.cfgDir, "dynamicconfig.yaml")
	if err := os.WriteFile(dynPath, dyn, 0o600); err != nil {
		return err
	}
	cfg, err := renderConfig(configData{
		Postgres:            s.o.Postgres,
		Persistence:         PersistenceDB(s.o.DatabasePrefix),
		Visibility:          VisibilityDB(s.o.DatabasePrefix),
		Ports:               s.o.Ports,
		HistoryShards:       s.o.HistoryShards,
		DynamicConfigFile:   dynPath,
		ClusterName:         "active",
		LogLevel:            "warn",
		PersistenceMaxConns: 20,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.cfgDir, clusterEnv+".yaml"), cfg, 0o600)
}

// launch starts the server process, in its own process group so a Ctrl-C
// in the terminal reaches the caller, which stops it in order.
func (s *Server) launch() error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.o.Binaries.Server, "--root", s.o.Dir, "--config", "config", "--env", clusterEnv,
		"--allow-no-auth", "start")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", s.o.Binaries.Server, err)
	}
	p := &process{cmd: cmd, log: logf, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// poll calls try every 300 ms until it succeeds, the server exits, ctx
// ends or ReadyTimeout passes; what is the step's name for errors.
func (s *Server) poll(ctx context.Context, what string, try func(ctx context.Context) error) error {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return &ExitedError{Log: s.logPath, Err: errors.New("not running")}
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.ReadyTimeout)
	defer cancel()
	var last error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		last = try(attempt)
		cancelAttempt()
		if last == nil {
			return nil
		}
		select {
		case <-p.exited:
			tail, _ := os.ReadFile(s.logPath)
			return &ExitedError{Log: s.logPath, Tail: lastLines(string(tail), 10), Err: p.err}
		case <-ctx.Done():
			return fmt.Errorf("%w: %s at %s after %s: %v (log: %s)", ErrNotReady, what, s.addr, s.o.ReadyTimeout, last, s.logPath)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// dial connects a client of the system namespace to the frontend.
func (s *Server) dial(ctx context.Context) (client.Client, error) {
	return client.DialContext(ctx, client.Options{HostPort: s.addr, Namespace: s.o.Namespace, Logger: quiet})
}

// waitServing waits until the frontend answers its health check and can
// read persistence (the system namespace), so history is up too.
func (s *Server) waitServing(ctx context.Context) error {
	return s.poll(ctx, "health", func(ctx context.Context) error {
		c, err := s.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			return err
		}
		_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "temporal-system"})
		return err
	})
}

// ensureNamespace registers the namespace and adds the search attributes
// that are missing, then waits until both are visible to the frontend.
func (s *Server) ensureNamespace(ctx context.Context) error {
	err := s.poll(ctx, "register namespace", func(ctx context.Context) error {
		c, err := s.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: s.o.Namespace, WorkflowExecutionRetentionPeriod: durationpb.New(s.o.Retention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if errors.As(err, &exists) {
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := s.waitNamespace(ctx); err != nil {
		return err
	}
	return s.poll(ctx, "search attributes", func(ctx context.Context) error {
		c, err := s.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		ops := c.OperatorService()
		list, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.o.Namespace})
		if err != nil {
			return err
		}
		missing := map[string]enumspb.IndexedValueType{}
		for _, k := range s.o.SearchAttributes {
			if _, ok := list.GetCustomAttributes()[k.GetName()]; !ok {
				missing[k.GetName()] = k.GetValueType()
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: s.o.Namespace, SearchAttributes: missing,
		}); err != nil {
			var exists *serviceerror.AlreadyExists
			if !errors.As(err, &exists) {
				return err
			}
		}
		return fmt.Errorf("search attributes %d added, waiting to see them listed", len(missing))
	})
}

// waitNamespace waits until the frontend knows the namespace (its cache
// refreshes on its own schedule after a registration).
func (s *Server) waitNamespace(ctx context.Context) error {
	return s.poll(ctx, "namespace "+s.o.Namespace, func(ctx context.Context) error {
		c, err := s.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.WorkflowService().ListOpenWorkflowExecutions(ctx, &workflowservice.ListOpenWorkflowExecutionsRequest{
			Namespace: s.o.Namespace, MaximumPageSize: 1,
		})
		return err
	})
}

// quiet drops the SDK's connection-retry noise while polling.
var quiet = log.NewStructuredLogger(slog.New(slog.DiscardHandler))
