// Command voiceload is the realtime voice process's load generator: for
// each load level N it starts the realtime binary as a child process on
// free loopback ports, opens N WebRTC calls to it (staggered over a couple
// of seconds), each streaming pre-encoded 20 ms Opus packets in real time,
// and reports the child's CPU share and memory per call, the sessions'
// arrival-to-decision latency, the frames lost, late or concealed, and what
// the child's CPU went on (from its Go CPU profile).
//
//	go run ./cmd/voiceload -n 50,100,200,400
//
// The callers run in this process and encrypt SRTP too: on a small machine
// they share the cores with the server, so their own CPU is reported.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/inferflow/inferflow/internal/codec"
)

// Bounds on what the command line may ask for.
const (
	maxSessions = 2000
	maxDuration = 10 * time.Minute
)

type options struct {
	levels   []int
	window   time.Duration
	stagger  time.Duration
	parallel int
	connect  time.Duration
	settle   time.Duration
	realtime string
	fixture  string
	temporal string
	cores    int
	budgetMs float64
	profile  bool
	dir      string
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("voiceload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	levels := fs.String("n", "50,100,200,400", "load levels: concurrent calls per run, comma-separated")
	fs.DurationVar(&o.window, "window", 15*time.Second, "measured time, once every call streams (whole seconds)")
	fs.DurationVar(&o.stagger, "stagger", 2*time.Second, "calls start evenly spread over this time")
	fs.IntVar(&o.parallel, "dial-parallel", 16, "calls being set up at once at most")
	fs.DurationVar(&o.connect, "connect-timeout", 20*time.Second, "after the stagger, calls not connected by then count as failed")
	fs.DurationVar(&o.settle, "settle", time.Second, "wait after the last call connects before measuring")
	fs.StringVar(&o.realtime, "realtime", "", "realtime binary (default: go build ./realtime into a temporary folder)")
	fs.StringVar(&o.fixture, "fixture", "internal/codec/testdata/speech-clean.opus.pkts", "Opus packet file each caller streams, looped")
	fs.StringVar(&o.temporal, "temporal", "off", "off: Temporal unreachable (the audio path must not need it); dev: start a dev server and a worker on a credited SQLite ledger")
	fs.IntVar(&o.cores, "cores", runtime.NumCPU(), "cores the CPU share is a share of")
	fs.Float64Var(&o.budgetMs, "budget-ms", 5, "per-session p99 decision budget counted against")
	fs.BoolVar(&o.profile, "profile", true, "take a CPU profile of the realtime process over the window and categorize it")
	fs.StringVar(&o.dir, "dir", "", "folder for logs and profiles (default: a new temporary folder)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > maxSessions {
			return o, fmt.Errorf("-n: %q: want integers 1..%d", s, maxSessions)
		}
		o.levels = append(o.levels, n)
	}
	switch {
	case o.window < 2*time.Second || o.window > maxDuration:
		return o, fmt.Errorf("-window: want 2s..%v", maxDuration)
	case o.stagger < 0 || o.stagger > time.Minute:
		return o, errors.New("-stagger: want 0..1m")
	case o.settle < 0 || o.settle > time.Minute:
		return o, errors.New("-settle: want 0..1m")
	case o.connect < time.Second || o.connect > 5*time.Minute:
		return o, errors.New("-connect-timeout: want 1s..5m")
	case o.parallel < 1 || o.parallel > maxSessions:
		return o, fmt.Errorf("-dial-parallel: want 1..%d", maxSessions)
	case o.cores < 1 || o.cores > 1024:
		return o, errors.New("-cores: want 1..1024")
	case o.budgetMs <= 0 || o.budgetMs > 1000:
		return o, errors.New("-budget-ms: want 0 < budget <= 1000")
	case o.temporal != "off" && o.temporal != "dev":
		return o, fmt.Errorf("-temporal: %q: want off or dev", o.temporal)
	}
	return o, nil
}

func main() {
	o, err := parseArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "voiceload:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "voiceload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	pkts, err := codec.ReadPacketFile(o.fixture)
	if err != nil {
		return fmt.Errorf("-fixture: %w", err)
	}
	if len(pkts) == 0 {
		return errors.New("-fixture: no packets")
	}
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "voiceload-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return fmt.Errorf("-dir: %w", err)
	}
	var root string
	if o.realtime == "" || o.temporal == "dev" {
		if root, err = moduleRoot(ctx); err != nil {
			return err
		}
	}
	if o.realtime == "" {
		fmt.Fprintln(out, "building ./realtime ...")
		if o.realtime, err = buildRealtime(ctx, root, o.dir); err != nil {
			return err
		}
	}
	// off: Temporal is unreachable, a loopback port nobody listens on. The
	// realtime process's lazy client keeps the records queued and each
	// response waits out its billing hold (reserve timeout) unheld.
	temporalAddr, err := freeAddr()
	if err != nil {
		return err
	}
	var backend *temporalBackend
	if o.temporal == "dev" {
		fmt.Fprintln(out, "starting a Temporal dev server and building ./worker ...")
		if backend, err = startTemporal(ctx, root, o.dir); err != nil {
			return err
		}
		defer func() { _ = backend.stop() }()
		temporalAddr = backend.server.Address
	}
	fmt.Fprintf(out, "machine: %d cores (%s), fixture %s (%d packets, %.1f s looped), %v measured per level, logs and profiles in %s\n\n",
		runtime.NumCPU(), cpuModel(), o.fixture, len(pkts), float64(len(pkts))*codec.FrameDuration.Seconds(), o.window, o.dir)
	var all []runResult
	for _, n := range o.levels {
		la, _ := loadAverage()
		fmt.Fprintf(out, "N=%d: starting (load average before: %.2f) ...\n", n, la)
		creds := credentials(n)
		queue := fmt.Sprintf("voiceload-n%d", n)
		var worker *workerProc
		if backend != nil {
			if worker, err = backend.startWorker(ctx, queue, creds); err != nil {
				return fmt.Errorf("level n=%d: %w", n, err)
			}
		}
		res, err := runLoad(ctx, runConfig{
			n: n, window: o.window, stagger: o.stagger, settle: o.settle, dialParallel: o.parallel, connectFor: o.connect, packets: pkts,
			cores: o.cores, budgetMs: o.budgetMs, profile: o.profile, dir: o.dir,
			rt: realtimeOptions{bin: o.realtime, creds: creds, temporalAddr: temporalAddr,
				taskQueue: queue, logPath: filepath.Join(o.dir, fmt.Sprintf("realtime-n%d.log", n))},
		})
		if worker != nil {
			if werr := worker.stop(); werr != nil {
				fmt.Fprintln(os.Stderr, "voiceload:", werr)
			}
		}
		if err != nil {
			return fmt.Errorf("level n=%d: %w", n, err)
		}
		printRun(out, res, o.budgetMs)
		all = append(all, res)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	printTable(out, all, o.cores)
	return nil
}

func moduleRoot(ctx context.Context) (string, error) {
	b, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the inferflow module: run from the repository or pass -realtime")
	}
	return filepath.Dir(mod), nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func printRun(w io.Writer, r runResult, budget float64) {
	fmt.Fprintf(w, "N=%d: %d connected in %.1f s, %d views; window %.1f s; load average %.2f\n",
		r.N, r.Connected, r.Connect.Seconds(), r.Viewed, r.Window.Seconds(), r.LoadAvg1)
	for _, e := range r.DialErrors {
		fmt.Fprintln(w, "  error:", e)
	}
	fmt.Fprintf(w, "  threads waiting for a CPU (run queue, per second): realtime %.2f, load generator %.2f\n", r.RunWait, r.LoadGenWait)
	fmt.Fprintf(w, "  load generator: %d packets sent over a frame late, worst %v\n", r.SentBehind, r.MaxBehind.Round(time.Millisecond))
	fmt.Fprintf(w, "  realtime CPU %.0f%% of the cores, load generator %.0f%%; RSS %.1f MB idle, %.1f MB peak -> %.2f MB per call\n",
		100*r.CPUShare, 100*r.LoadGenShare, mb(r.RSSIdle), mb(r.RSSSteady), r.perSessionMB())
	l := r.Latency
	fmt.Fprintf(w, "  decisions %d in %d sessions: p50 median %s ms (worst %s), p99 p99-of-sessions %s ms (worst %s), %d sessions over %.0f ms\n",
		l.Decisions, l.Sessions, ms(l.P50), ms(l.P50Max), ms(l.P99), ms(l.P99Max), l.Over, budget)
	fmt.Fprintf(w, "  packets sent %d, received %d (%d not received), dropped by the reader %d; frames %d, lost %d, late %d, concealed %d\n",
		r.Sent, r.Received, int64(r.Sent)-int64(r.Received), r.Dropped, r.Frames, r.Lost, r.Late, r.Concealed)
	if r.ProfileTotal > 0 {
		fmt.Fprintf(w, "  realtime CPU profile (%s, %v sampled):\n", r.ProfilePath, r.ProfileTotal.Round(time.Millisecond))
		for _, c := range r.Profile {
			fmt.Fprintf(w, "    %5.1f%%  %s\n", 100*float64(c.Time)/float64(r.ProfileTotal), c.Name)
		}
	}
	fmt.Fprintln(w)
}

func printTable(w io.Writer, rs []runResult, cores int) {
	fmt.Fprintf(w, "| N | connected | realtime CPU (%% of %d cores) | load generator CPU | CPU ms per call-second realtime / generator | run-queue wait realtime / generator | RSS idle → peak (MB) | MB per call | decision p50 (median of sessions, ms) | decision p99 (p99 of sessions / worst, ms) | sessions p99 > budget | frames | lost | late | concealed | reader drops | load avg |\n", cores)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		l := r.Latency
		fmt.Fprintf(w, "| %d | %d | %.0f %% | %.0f %% | %.1f / %.1f | %.2f / %.2f | %.0f → %.0f | %.2f | %s | %s / %s | %d | %d | %d | %d | %d | %d | %.1f |\n",
			r.N, r.Connected, 100*r.CPUShare, 100*r.LoadGenShare, r.perCallMs(r.CPUShare, cores), r.perCallMs(r.LoadGenShare, cores), r.RunWait, r.LoadGenWait, mb(r.RSSIdle), mb(r.RSSSteady), r.perSessionMB(),
			ms(l.P50), ms(l.P99), ms(l.P99Max), l.Over, r.Frames, r.Lost, r.Late, r.Concealed, r.Dropped, r.LoadAvg1)
	}
}

// ms prints a latency quantile; the sessions' histograms stop at 20 ms, so
// a quantile in the overflow bucket is "> 20".
func ms(v float64) string {
	if v > 20 {
		return "> 20"
	}
	return fmt.Sprintf("%.2f", v)
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }
