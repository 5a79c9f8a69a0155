// Command cluster runs what a user deploys beyond one laptop, on this
// machine: the Temporal server built from go.temporal.io/server (`make
// temporal-server`) on the local PostgreSQL for persistence and visibility,
// the Web UI beside it, N inferflow workers, the realtime process, and the
// PostgreSQL ledger in a database of its own. It prints the addresses and
// runs until Ctrl-C, or, given `-- command args`, runs that command against
// the cluster (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and INFERFLOW_LEDGER_DSN
// set) and then stops everything, exiting with the command's status.
//
//	cluster [-fresh] [-workers 2] [-realtime=true] [-port 17233] [-- command args...]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/inferflow/inferflow/internal/cluster"
	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/payloadkeys"
	"github.com/inferflow/inferflow/internal/temporalversion"
	"github.com/inferflow/inferflow/pkg/payloadcrypt"
	"github.com/inferflow/inferflow/workflows"
)

// settings are cluster's flags.
var settings = struct {
	Fresh, Realtime, PrintVersion   envflag.Spec[bool]
	Workers, Port, UIPort           envflag.Spec[int]
	Prefix, Postgres, PGUser        envflag.Spec[string]
	PGPassword                      envflag.Spec[string]
	Tools, CLIVersion, Dir, EnvFile envflag.Spec[string]
	Env, WorkerBin, RealtimeBin     envflag.Spec[string]
	DevKeys, PrintModule            envflag.Spec[string]
}{
	Fresh:        envflag.Spec[bool]{Flag: "fresh", Help: "drop and recreate the cluster's databases (Temporal's and the ledger's) first"},
	Realtime:     envflag.Spec[bool]{Flag: "realtime", Default: true, Help: "run the realtime process"},
	PrintVersion: envflag.Spec[bool]{Flag: "print-server-version", Help: "print the version of the Temporal server (or -print-module) the CLI embeds, and exit (make temporal-server)"},
	PrintModule:  envflag.Spec[string]{Flag: "print-module", Default: "server", Help: "with -print-server-version: server or ui", Check: envflag.OneOf("server", "ui")},
	Workers:      envflag.Spec[int]{Flag: "workers", Default: 2, Help: "worker processes", Check: envflag.AtLeast(0)},
	Port: envflag.Spec[int]{Flag: "port", Default: cluster.DefaultFrontendPort,
		Help: "frontend port; the other services follow the standard layout shifted alike (history +1, matching +2, worker +6, HTTP +10, metrics at port+767)", Check: envflag.Positive[int]},
	UIPort:      envflag.Spec[int]{Flag: "ui-port", Default: 18233, Help: "Web UI port (0: no UI)", Check: envflag.AtLeast(0)},
	Prefix:      envflag.Spec[string]{Flag: "db-prefix", Default: "inferflow_cluster", Help: "database names: <prefix>, <prefix>_visibility, <prefix>_ledger", Check: envflag.NotBlank},
	Postgres:    envflag.Spec[string]{Flag: "postgres", Env: "INFERFLOW_CLUSTER_POSTGRES", Default: "127.0.0.1:5432", Help: "PostgreSQL host:port", Check: envflag.HostPort},
	PGUser:      envflag.Spec[string]{Flag: "postgres-user", Default: "postgres", Help: "PostgreSQL user that may create databases", Check: envflag.NotBlank},
	PGPassword:  envflag.Spec[string]{Env: "PGPASSWORD", Secret: true, Help: "PostgreSQL password (none: trust auth)"},
	Tools:       envflag.Spec[string]{Flag: "tools", Default: ".tools/bin", Help: "where make temporal-server put the server", Check: envflag.NotBlank},
	CLIVersion:  envflag.Spec[string]{Flag: "cli-version", Help: "Temporal CLI version whose server to run (default: TEMPORAL_VERSION in ./Makefile)"},
	Dir:         envflag.Spec[string]{Flag: "dir", Default: ".data/cluster", Help: "config files and logs", Check: envflag.NotBlank},
	EnvFile:     envflag.Spec[string]{Flag: "env-file", Default: "temporal-dev.yaml", Help: "Temporal CLI env file: namespace and dynamic config", Check: envflag.NotBlank},
	Env:         envflag.Spec[string]{Flag: "env", Default: "dev", Help: "environment in the env file", Check: envflag.NotBlank},
	WorkerBin:   envflag.Spec[string]{Flag: "worker-bin", Default: "bin/worker", Help: "worker binary", Check: envflag.NotBlank},
	RealtimeBin: envflag.Spec[string]{Flag: "realtime-bin", Default: "bin/realtime", Help: "realtime binary", Check: envflag.NotBlank},
	DevKeys: envflag.Spec[string]{Flag: "dev-payload-keys", Default: ".inferflow/dev-keys",
		Help: "unless payload keys are configured, create this key file once and give it to the processes (empty: payloads in clear)"},
}

type options struct {
	fresh, realtime, printVersion bool
	workers, port, uiPort         int
	prefix, postgres, pgUser      string
	pgPassword                    string
	tools, cliVersion, dir        string
	envFile, env                  string
	workerBin, realtimeBin        string
	devKeys, printModule          string
}

func (o *options) register(s *envflag.Set) {
	envflag.Var(s, &o.fresh, settings.Fresh)
	envflag.Var(s, &o.realtime, settings.Realtime)
	envflag.Var(s, &o.printVersion, settings.PrintVersion)
	envflag.Var(s, &o.workers, settings.Workers)
	envflag.Var(s, &o.port, settings.Port)
	envflag.Var(s, &o.uiPort, settings.UIPort)
	envflag.Var(s, &o.prefix, settings.Prefix)
	envflag.Var(s, &o.postgres, settings.Postgres)
	envflag.Var(s, &o.pgUser, settings.PGUser)
	envflag.Var(s, &o.pgPassword, settings.PGPassword)
	envflag.Var(s, &o.tools, settings.Tools)
	envflag.Var(s, &o.cliVersion, settings.CLIVersion)
	envflag.Var(s, &o.dir, settings.Dir)
	envflag.Var(s, &o.envFile, settings.EnvFile)
	envflag.Var(s, &o.env, settings.Env)
	envflag.Var(s, &o.workerBin, settings.WorkerBin)
	envflag.Var(s, &o.realtimeBin, settings.RealtimeBin)
	envflag.Var(s, &o.devKeys, settings.DevKeys)
	envflag.Var(s, &o.printModule, settings.PrintModule)
}

func main() {
	var o options
	s := envflag.New("cluster")
	o.register(s)
	if err := s.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, o, s.Args())
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Ports of the processes beside the server, clear of `make run`'s.
const (
	codecPort           = 18089
	realtimePort        = 18088
	realtimeMetricsPort = 19099
	workerMetricsPort   = 19100 // + worker index
)

func run(ctx context.Context, o options, command []string) (int, error) {
	if o.cliVersion == "" {
		v, err := temporalversion.MakefileCLIVersion("Makefile")
		if err != nil {
			return 0, settings.CLIVersion.Errorf("not given, and %w", err)
		}
		o.cliVersion = v
	}
	if o.printVersion {
		module := temporalversion.ServerModule
		if o.printModule == "ui" {
			module = temporalversion.UIModule
		}
		v, err := temporalversion.Embedded(ctx, "", o.cliVersion, module)
		if err != nil {
			return 0, err
		}
		fmt.Println(v)
		return 0, nil
	}
	host, portStr, _ := net.SplitHostPort(o.postgres) // checked by envflag.HostPort
	pgPort, _ := strconv.Atoi(portStr)
	pg := cluster.Postgres{Host: host, Port: pgPort, User: o.pgUser, Password: o.pgPassword}

	tools, err := filepath.Abs(o.tools)
	if err != nil {
		return 0, err
	}
	bins, err := cluster.Locate(ctx, "", tools, o.cliVersion)
	if err != nil {
		return 0, err
	}
	env, err := devserver.Load(o.envFile, o.env)
	if err != nil {
		return 0, err
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	for _, b := range []struct {
		path string
		need bool
	}{{o.workerBin, o.workers > 0}, {o.realtimeBin, o.realtime}} {
		if _, err := os.Stat(b.path); b.need && err != nil {
			return 0, fmt.Errorf("%s is missing: run `make build` (make cluster does)", b.path)
		}
	}

	fmt.Printf("Starting the Temporal server %s on PostgreSQL %s (databases %s, %s; log %s/temporal-server.log) ...\n",
		bins.Version, pg.Addr(), cluster.PersistenceDB(o.prefix), cluster.VisibilityDB(o.prefix), o.dir)
	began := time.Now()
	srv, err := cluster.Start(ctx, cluster.Options{
		Binaries: bins, Postgres: pg, DatabasePrefix: o.prefix, Fresh: o.fresh,
		Ports: cluster.PortsFrom(o.port), Dir: dir,
		Namespace: env.Flags["namespace"], SearchAttributes: workflows.SearchAttributes, DynamicConfig: env.DynamicConfig,
		Progress: func(step string) { fmt.Printf("  %-40s %5.1fs\n", step, time.Since(began).Seconds()) },
	})
	if err != nil {
		return 0, err
	}
	defer func() {
		fmt.Println("Stopping the Temporal server ...")
		_ = srv.Stop()
	}()
	ready := time.Since(began)

	ledgerDB := o.prefix + "_ledger"
	if _, err := cluster.EnsureDatabase(ctx, pg, ledgerDB, o.fresh); err != nil {
		return 0, err
	}
	childEnv := []string{
		"TEMPORAL_ADDRESS=" + srv.HostPort(),
		"TEMPORAL_NAMESPACE=" + srv.Namespace(),
		"INFERFLOW_LEDGER_DSN=" + pg.DSN(ledgerDB),
	}
	keysEnv, err := payloadKeys(o.devKeys)
	if err != nil {
		return 0, settings.DevKeys.Errorf("%w", err)
	}
	childEnv = append(childEnv, keysEnv...)
	codec := "" // the first worker's codec server, when payloads are encrypted
	if o.workers > 0 && (len(keysEnv) > 0 || os.Getenv(payloadkeys.Settings.KeysFile.Env) != "" || os.Getenv(payloadkeys.Settings.Keys.Env) != "") {
		codec = fmt.Sprintf("http://127.0.0.1:%d", codecPort)
	}

	var ui *cluster.UI
	uiNote := ""
	if o.uiPort > 0 {
		uiVersion, err := temporalversion.Embedded(ctx, "", o.cliVersion, temporalversion.UIModule)
		if err == nil {
			ui, err = cluster.StartUI(ctx, cluster.UIOptions{Binary: cluster.UIBinaryIn(tools, uiVersion), Dir: dir, Port: o.uiPort,
				Frontend: srv.HostPort(), Namespace: srv.Namespace(), CodecEndpoint: codec})
		}
		if err != nil {
			uiNote = err.Error()
		} else {
			defer ui.Stop()
		}
	}

	var procs []*child
	defer func() { stopChildren(procs) }()
	uiOrigins := fmt.Sprintf("http://127.0.0.1:%d,http://localhost:%d", o.uiPort, o.uiPort)
	for i := range o.workers {
		args := []string{"-metrics-addr", fmt.Sprintf("127.0.0.1:%d", workerMetricsPort+i), "-codec-addr", ""}
		if i == 0 && codec != "" {
			// One codec server is enough for the UI and the CLI.
			args = []string{"-metrics-addr", fmt.Sprintf("127.0.0.1:%d", workerMetricsPort), "-codec-addr", fmt.Sprintf("127.0.0.1:%d", codecPort), "-codec-origins", uiOrigins}
		}
		c, err := startChild(fmt.Sprintf("worker-%d", i+1), o.workerBin, args, childEnv, dir)
		if err != nil {
			return 0, err
		}
		procs = append(procs, c)
	}
	if o.realtime {
		c, err := startChild("realtime", o.realtimeBin, []string{"-listen", fmt.Sprintf("127.0.0.1:%d", realtimePort),
			"-metrics-addr", fmt.Sprintf("127.0.0.1:%d", realtimeMetricsPort)}, childEnv, dir)
		if err != nil {
			return 0, err
		}
		procs = append(procs, c)
	}

	p := srv.Ports()
	fmt.Printf("\nTemporal cluster ready in %.1fs (server %s, all four services in one process).\n", ready.Seconds(), bins.Version)
	fmt.Printf("  Frontend (gRPC):  %s   namespace %s\n", srv.HostPort(), srv.Namespace())
	if ui != nil {
		fmt.Printf("  Web UI:           %s/namespaces/%s/workflows\n", ui.URL, srv.Namespace())
	} else {
		fmt.Printf("  Web UI:           none (%s); use the CLI: %s\n", orText(uiNote, "-ui-port 0"), "temporal --address "+srv.HostPort()+" workflow list")
	}
	fmt.Printf("  Server metrics:   http://127.0.0.1:%d/metrics\n", p.Metrics)
	fmt.Printf("  Ledger:           %s\n", pg.DSN(ledgerDB))
	fmt.Printf("  Workers:          %d (metrics from 127.0.0.1:%d; codec server %s)\n", o.workers, workerMetricsPort, orText(codec, "off"))
	if o.realtime {
		fmt.Printf("  Realtime:         http://127.0.0.1:%d (metrics 127.0.0.1:%d)\n", realtimePort, realtimeMetricsPort)
	}
	fmt.Printf("  Logs:             %s/*.log\n", o.dir)
	fmt.Printf("  In another shell: export TEMPORAL_ADDRESS=%s TEMPORAL_NAMESPACE=%s INFERFLOW_LEDGER_DSN=%s\n\n",
		srv.HostPort(), srv.Namespace(), pg.DSN(ledgerDB))

	exited := make(chan *child, len(procs)+1)
	for _, c := range procs {
		go func() { <-c.done; exited <- c }()
	}
	if len(command) > 0 {
		cmd, err := startChild("command", command[0], command[1:], childEnv, "")
		if err != nil {
			return 0, err
		}
		select {
		case <-cmd.done:
			return exitCode(cmd.err), cmd.err
		case c := <-exited:
			cmd.stop()
			return 1, fmt.Errorf("%s exited (%v); see %s", c.name, c.err, c.logPath)
		case <-srv.Done():
			cmd.stop()
			return 1, fmt.Errorf("the Temporal server exited; see %s", srv.LogPath())
		case <-ctx.Done():
			cmd.stop()
			return 130, nil
		}
	}
	fmt.Println("Press Ctrl-C to stop.")
	select {
	case c := <-exited:
		return 1, fmt.Errorf("%s exited (%v); see %s", c.name, c.err, c.logPath)
	case <-srv.Done():
		return 1, fmt.Errorf("the Temporal server exited; see %s", srv.LogPath())
	case <-ctx.Done():
		return 0, nil
	}
}

// payloadKeys returns the environment that makes the processes encrypt
// payloads with the key file at path (created once), as `make run` does,
// or nothing when keys are configured already or path is empty.
func payloadKeys(path string) ([]string, error) {
	if path == "" || os.Getenv(payloadkeys.Settings.KeysFile.Env) != "" || os.Getenv(payloadkeys.Settings.Keys.Env) != "" {
		return nil, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if _, err := payloadcrypt.EnsureKeyFile(abs, time.Now()); err != nil {
		return nil, err
	}
	return []string{payloadkeys.Settings.KeysFile.Env + "=" + abs}, nil
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return 1
	}
	return 0
}
