// Command chaos runs the chaos suite (internal/chaosrun) for a bounded time
// and prints its counts; it exits 1 on any invariant violation, 2 when the
// run itself could not be done.
//
//	chaos -duration 3m -seed 7 -ledger postgres
//	chaos -topology cluster -ledger postgres -voice              # the production topology's server (make temporal-server)
//	chaos -address temporal.example:7233 -namespace prod-test   # an external server: no restarts
//
// -topology says which Temporal server the run goes against: dev (a dev
// server of its own on a database file, the default), cluster (the
// production topology's temporal-server on scratch PostgreSQL databases,
// dropped afterwards) or external (-address; never restarted).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/inferflow/inferflow/internal/chaosrun"
	"github.com/inferflow/inferflow/internal/devserver"
)

func main() {
	var (
		duration  = flag.Duration("duration", 3*time.Minute, "how long load and faults run (then the drain)")
		seed      = flag.Int64("seed", 0, "seed of the fault plan, the load and the fault schedule (0: from the clock, printed)")
		ledgerK   = flag.String("ledger", "sqlite", "ledger backend: sqlite or postgres")
		pgDSN     = flag.String("postgres-dsn", chaosrun.DefaultPostgresDSN, "PostgreSQL server for the scratch ledger database (with -ledger postgres)")
		topology  = flag.String("topology", "", "Temporal server: dev, cluster or external (default: external with -address, else dev)")
		address   = flag.String("address", "", "an external Temporal frontend host:port (-topology external)")
		namespace = flag.String("namespace", "default", "namespace on the external server")
		workerBin = flag.String("worker", "bin/worker", "worker binary (built with go build -o bin/ ./worker when missing)")
		starters  = flag.Int("starters", 4, "workflow starters at once")
		pace      = flag.Duration("pace", time.Second, "each starter starts about one workflow per pace")
		drain     = flag.Duration("drain", 5*time.Minute, "bound on the wait for every workflow to close")
		keep      = flag.Bool("keep", false, "keep the run's folder (logs, SQLite ledger, dev server database)")
		voice     = flag.Bool("voice", false, "add voice: a realtime process, loopback callers, and kill -9 of the realtime process mid-call")
		realtime  = flag.String("realtime", "bin/realtime", "realtime binary for -voice (built when missing)")
		fixture   = flag.String("voice-fixture", "internal/codec/testdata/speech-clean.opus.pkts", "Opus packets the voice callers stream")
		lease     = flag.Duration("owner-lease", 5*time.Second, "the realtime process's --owner-lease with -voice: sessions of a killed process close ORPHANED within it")
	)
	flag.Parse()
	if *seed == 0 {
		*seed = time.Now().UnixNano() % 1_000_000
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := chaosrun.Config{Ledger: *ledgerK, PostgresDSN: *pgDSN, Duration: *duration, Seed: *seed, Starters: *starters,
		Pace: *pace, DrainTimeout: *drain, Out: os.Stdout, OwnerLease: *lease}
	if *voice {
		cfg.RealtimeBin, cfg.VoiceFixture = *realtime, *fixture
	}
	cfg.WorkerBin = *workerBin
	if *topology == "" {
		*topology = "dev"
		if *address != "" {
			*topology = "external"
		}
	}
	switch {
	case *topology != "dev" && *topology != "cluster" && *topology != "external":
		fmt.Fprintf(os.Stderr, "chaos: -topology %q: want dev, cluster or external\n", *topology)
		os.Exit(2)
	case (*topology == "external") != (*address != ""):
		fmt.Fprintln(os.Stderr, "chaos: -address goes with -topology external, and only with it")
		os.Exit(2)
	}
	os.Exit(run(ctx, cfg, *topology, *address, *namespace, *keep))
}

// build compiles pkg into bin when bin is missing, and returns its absolute path.
func build(bin, pkg string) (string, error) {
	if _, err := os.Stat(bin); err != nil {
		fmt.Println("chaos: building", bin)
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("build %s: %w", pkg, err)
		}
	}
	return filepath.Abs(bin)
}

func run(ctx context.Context, cfg chaosrun.Config, topology, address, namespace string, keep bool) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "chaos:", err); return 2 }
	var err error
	if cfg.WorkerBin, err = build(cfg.WorkerBin, "./worker"); err != nil {
		return fail(err)
	}
	if cfg.RealtimeBin != "" {
		if cfg.RealtimeBin, err = build(cfg.RealtimeBin, "./realtime"); err != nil {
			return fail(err)
		}
	}
	dir, err := os.MkdirTemp("", "inferflow-chaos-")
	if err != nil {
		return fail(err)
	}
	if keep {
		fmt.Println("chaos: run folder", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	var server chaosrun.TemporalServer
	switch topology {
	case "external":
		server = chaosrun.External{Address: address, NS: namespace}
	case "cluster":
		began := time.Now()
		c, err := chaosrun.StartCluster(ctx, chaosrun.ClusterOptions{Root: ".", Dir: filepath.Join(dir, "cluster"),
			Progress: func(step string) { fmt.Printf("chaos: cluster: %-40s %5.1fs\n", step, time.Since(began).Seconds()) }})
		if err != nil {
			return fail(fmt.Errorf("start the production topology's server (make temporal-server builds it): %w", err))
		}
		defer func() {
			if err := c.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "chaos:", err)
			}
		}()
		fmt.Println("chaos: production-topology server at", c.HostPort(), "log", c.LogPath())
		server = c
	default:
		cli, err := devserver.FindCLI(".")
		if err != nil {
			return fail(err)
		}
		logf, err := os.Create(filepath.Join(dir, "temporal.log"))
		if err != nil {
			return fail(err)
		}
		defer logf.Close()
		dev, err := chaosrun.StartDevServer(ctx, chaosrun.DevServerOptions{CLI: cli, EnvFile: "temporal-dev.yaml",
			DBFile: filepath.Join(dir, "temporal.db"), Output: logf})
		if err != nil {
			return fail(fmt.Errorf("start dev server: %w", err))
		}
		defer dev.Stop()
		fmt.Println("chaos: dev server at", dev.HostPort())
		server = dev
	}
	cfg.Server, cfg.Dir = server, dir
	sum, err := chaosrun.Run(ctx, cfg)
	if err != nil && !errors.Is(err, chaosrun.ErrViolations) {
		return fail(err)
	}
	sum.Print(os.Stdout)
	fmt.Printf("chaos: reproduce with -seed %d -ledger %s -duration %s\n", cfg.Seed, cfg.Ledger, cfg.Duration)
	if err != nil || !sum.Drained {
		return 1
	}
	return 0
}
