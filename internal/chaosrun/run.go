// Package chaosrun is the chaos suite (cmd/chaos, make chaos, and
// integration's TestChaosShort): it runs two worker processes against a
// Temporal server, starts a mix of consensus evaluations and billed jobs
// (some started twice) against a fake model provider that fails by a
// seeded plan (internal/providerplan), and meanwhile, at seeded moments,
// kills a worker with SIGKILL and starts it again, restarts the Temporal
// server, and makes the ledger unreachable (PostgreSQL through a fault
// proxy, SQLite by a lock on its file). Then it drains, collects what
// Temporal, the provider and the ledger say, and checks the invariants of
// internal/chaoscheck.
package chaosrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/inferflow/inferflow/internal/chaoscheck"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/internal/providerplan"
	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/wire"
)

// Config is one run.
type Config struct {
	Server    TemporalServer
	WorkerBin string
	// Ledger is "sqlite" or "postgres"; PostgresDSN the server to make a
	// scratch database on (DefaultPostgresDSN when empty).
	Ledger      string
	PostgresDSN string
	Duration    time.Duration
	Seed        int64
	// Starters start workflows at once (default 4), each about one start
	// per Pace (default 1 s, jittered).
	Starters int
	Pace     time.Duration
	// DrainTimeout bounds the wait for every workflow to close (default 5 min).
	DrainTimeout time.Duration
	// Dir holds the ledger file, worker logs and blobs (a temp dir when empty).
	Dir string
	// Out gets progress lines and the summary (os.Stdout when nil).
	Out io.Writer
	// Progress is the interval of progress lines (default 5 s).
	Progress time.Duration
	// RealtimeBin, when set, adds voice: a realtime process, loopback
	// callers streaming VoiceFixture (Opus packets), and kill -9 of the
	// realtime process mid-call, after which it starts again with the same
	// instance id (its restart sweep closes the killed process's sessions
	// ORPHANED at once). OwnerLease is its --owner-lease (default 5 s): a
	// session whose process is gone closes ORPHANED within it. Voice
	// violations (sessions left open, voice users' holds left active) fail
	// the run like any other.
	RealtimeBin  string
	VoiceFixture string
	OwnerLease   time.Duration
}

// The model the billed jobs use, priced in the workers' catalog.
var chaosModel = ledger.Model{ID: openaitest.DefaultCompletionModel, PromptPer1K: 1000, CompletionPer1K: 2000, MaxCompletionTokens: 500}

const (
	chaosUsers   = 4
	userCredit   = int64(1_000_000_000)
	callTimeout  = 3000 // ms: vision, judge and model calls; a hang costs this
	workerCount  = 2
	maxStartWait = 90 * time.Second
)

// Summary is what a run did and found.
type Summary struct {
	Seed     int64
	Ledger   string
	Duration time.Duration

	Started           map[string]int // by workflow type
	Completed         map[string]int
	Failed            map[string]int // by type/code
	OtherClosed       map[string]int // cancelled, terminated, timed out, by type/status
	StillOpen         int
	DuplicatesRefused int
	Reconciliations   int

	WorkerKills, WorkerExits, ServerRestarts, LedgerOutages int
	RestartSkipped                                          string // why the server restart fault was skipped
	ProviderCalls                                           map[providerplan.Fault]int

	// What the checks read: consensus outcomes, the provider answers they
	// were checked against (Uncertain of them possibly lost to a kill or a
	// restart), ledger holds and journal transactions.
	ConsensusChecked, Answers, Uncertain, Holds, JournalTx int

	// Voice (with Config.RealtimeBin).
	VoiceCalls, VoiceCallErrors, RealtimeKills, VoiceSessions, VoiceOpen, VoiceOrphaned int
	// Realtime is the realtime process's goroutines at its last start and
	// after the calls, and its gates left live.
	Realtime chaoscheck.RealtimeIdle

	Violations []chaoscheck.Violation
	Drained    bool
}

// Print writes the summary as the run's last lines.
func (s Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "chaos: seed %d, ledger %s, %s of load\n", s.Seed, s.Ledger, s.Duration.Round(time.Second))
	for _, typ := range slices.Sorted(maps.Keys(s.Started)) {
		fmt.Fprintf(w, "  %-22s started %d, completed %d\n", typ, s.Started[typ], s.Completed[typ])
	}
	fmt.Fprintf(w, "  reconciliations run    %d\n", s.Reconciliations)
	fmt.Fprintf(w, "  failed by code        %s\n", countsLine(s.Failed))
	if len(s.OtherClosed) > 0 {
		fmt.Fprintf(w, "  other closes          %s\n", countsLine(s.OtherClosed))
	}
	fmt.Fprintf(w, "  duplicate starts refused %d\n", s.DuplicatesRefused)
	fmt.Fprintf(w, "  faults: worker kills %d (survived), server restarts %d, ledger outages %d\n",
		s.WorkerKills, s.ServerRestarts, s.LedgerOutages)
	if s.WorkerExits > 0 {
		fmt.Fprintf(w, "  worker exits the run did not cause: %d (restarted after 1 s)\n", s.WorkerExits)
	}
	if s.RestartSkipped != "" {
		fmt.Fprintf(w, "  server restart skipped: %s\n", s.RestartSkipped)
	}
	fmt.Fprintf(w, "  provider calls        %s\n", providerplan.CountsString(s.ProviderCalls))
	if !s.Drained {
		fmt.Fprintf(w, "  drain timed out: %d workflows still open\n", s.StillOpen)
	}
	fmt.Fprintf(w, "  checked               %d consensus outcomes against %d provider answers (%d uncertain), %d holds, %d journal transactions\n",
		s.ConsensusChecked, s.Answers, s.Uncertain, s.Holds, s.JournalTx)
	if s.VoiceCalls > 0 {
		voiceViolations := 0
		for _, v := range s.Violations {
			if v.Invariant == chaoscheck.VoiceClean {
				voiceViolations++
			}
		}
		fmt.Fprintf(w, "  voice                 %d calls (%d ended in error), realtime killed %d times, %d VoiceSession workflows (%d closed ORPHANED), %d left open; voice violations %d\n",
			s.VoiceCalls, s.VoiceCallErrors, s.RealtimeKills, s.VoiceSessions, s.VoiceOrphaned, s.VoiceOpen, voiceViolations)
		fmt.Fprintf(w, "  realtime at rest      %d goroutines after %d calls, %d at its last start; %d gates live\n",
			s.Realtime.EndGoroutines, s.Realtime.Calls, s.Realtime.StartGoroutines, s.Realtime.LiveGates)
	}
	fmt.Fprintf(w, "  invariant violations  %d\n", len(s.Violations))
	for i, v := range s.Violations {
		if i == 50 {
			fmt.Fprintf(w, "    ... and %d more\n", len(s.Violations)-50)
			break
		}
		fmt.Fprintf(w, "    %s\n", v)
	}
}

func countsLine(m map[string]int) string {
	if len(m) == 0 {
		return " none"
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, " %s=%d", k, m[k])
	}
	return b.String()
}

// ErrViolations is Run's error when any invariant was violated.
var ErrViolations = errors.New("chaos: invariant violations")

// tracked is one workflow id the run started (or attached to).
type tracked struct {
	id, typ string
	runIDs  map[string]bool
	itemID  string
	quorum  int
	jobID   string
	userID  string
	closed  bool
}

// run is one run's state.
type run struct {
	cfg    Config
	outMu  sync.Mutex
	out    io.Writer
	start  time.Time
	tc     client.Client
	ifc    *inferflow.Client
	fake   *openaitest.Server
	plan   *providerplan.Plan
	target *ledgerTarget
	led    ledger.Ledger

	mu      sync.Mutex
	wfs     map[string]*tracked
	order   []string
	kills   []kill
	downs   [][2]time.Time // server restart windows
	skipped string
	workers []*worker
	killing sync.Mutex

	nKills, nRestarts, nOutages, nDupRefused atomic.Int64

	voice                       *realtimeProc
	voiceCalls, voiceCallErrors int
	nRealtimeKills              atomic.Int64
}

// Run does one chaos run. It returns the summary and ErrViolations when
// any invariant broke (other errors: the run itself could not be done).
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if cfg.Starters <= 0 {
		cfg.Starters = 4
	}
	if cfg.Pace <= 0 {
		cfg.Pace = time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 5 * time.Minute
	}
	if cfg.Progress <= 0 {
		cfg.Progress = 5 * time.Second
	}
	if cfg.Ledger == "" {
		cfg.Ledger = "sqlite"
	}
	if cfg.OwnerLease <= 0 {
		cfg.OwnerLease = 5 * time.Second
	}
	r := &run{cfg: cfg, out: cfg.Out, wfs: map[string]*tracked{}}
	if r.out == nil {
		r.out = os.Stdout
	}
	sum := Summary{Seed: cfg.Seed, Ledger: cfg.Ledger, Duration: cfg.Duration}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "inferflow-chaos-")
		if err != nil {
			return sum, err
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
		r.cfg.Dir = dir
	}

	// The ledger: created and funded by the run before any worker opens it.
	switch cfg.Ledger {
	case "sqlite":
		r.target = newSQLiteTarget(filepath.Join(cfg.Dir, "ledger.db"))
	case "postgres":
		base := cfg.PostgresDSN
		if base == "" {
			base = DefaultPostgresDSN
		}
		t, err := newPostgresTarget(ctx, base)
		if err != nil {
			return sum, err
		}
		r.target = t
	default:
		return sum, fmt.Errorf("chaosrun: ledger %q: want sqlite or postgres", cfg.Ledger)
	}
	defer func() {
		if err := r.target.cleanup(); err != nil {
			r.logf("cleanup of the %s ledger: %v", cfg.Ledger, err)
		}
	}()
	led, err := ledger.Open(ctx, ledger.Config{DSN: r.target.directDSN, Catalog: []ledger.Model{chaosModel}})
	if err != nil {
		return sum, fmt.Errorf("chaosrun: open ledger: %w", err)
	}
	defer led.Close()
	r.led = led
	credited := map[string]int64{}
	for u := range chaosUsers {
		user := fmt.Sprintf("chaos-u%d", u)
		if err := led.Credit(ctx, user, userCredit, "chaos-fund-"+user); err != nil {
			return sum, fmt.Errorf("chaosrun: fund %s: %w", user, err)
		}
		credited[user] = userCredit
	}
	var packets [][]byte
	voiceUsersSet := map[string]bool{}
	if cfg.RealtimeBin != "" {
		if packets, err = readFixture(cfg.VoiceFixture); err != nil {
			return sum, err
		}
		for i := range voiceUsers {
			user := voiceUser(i)
			if err := led.Credit(ctx, user, userCredit, "chaos-fund-"+user); err != nil {
				return sum, fmt.Errorf("chaosrun: fund %s: %w", user, err)
			}
			credited[user], voiceUsersSet[user] = userCredit, true
		}
	}

	// The provider, failing by the seed's plan.
	r.fake = openaitest.New()
	defer r.fake.Close()
	r.plan = providerplan.New(cfg.Seed, providerplan.Rates{})
	r.fake.SetResponder(r.plan.Responder())

	// The client: the SDK's own logs go to a file (it is loud while the
	// server restarts).
	sdkLog, err := os.Create(filepath.Join(cfg.Dir, "client.log"))
	if err != nil {
		return sum, err
	}
	defer sdkLog.Close()
	r.tc, err = client.DialContext(ctx, client.Options{HostPort: cfg.Server.HostPort(), Namespace: cfg.Server.Namespace(),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(sdkLog, &slog.HandlerOptions{Level: slog.LevelWarn})))})
	if err != nil {
		return sum, fmt.Errorf("chaosrun: dial Temporal at %s: %w", cfg.Server.HostPort(), err)
	}
	defer r.tc.Close()
	queue := fmt.Sprintf("chaos-%d-%d", cfg.Seed, time.Now().Unix())
	r.ifc = &inferflow.Client{Temporal: r.tc, TaskQueue: queue}

	// Two workers, supervised.
	wa := workerArgs{bin: cfg.WorkerBin, server: cfg.Server, queue: queue, ledgerDSN: r.target.workerDSN, baseURL: r.fake.URL(),
		models: catalogFlag(),
		dir:    cfg.Dir}
	for n := range workerCount {
		a := wa
		a.baseURL = workerBaseURL(r.fake, n)
		w := &worker{n: n, args: a}
		if err := w.start(); err != nil {
			return sum, err
		}
		r.workers = append(r.workers, w)
	}
	superCtx, stopSupervising := context.WithCancel(context.Background())
	var supervisors sync.WaitGroup
	for _, w := range r.workers {
		supervisors.Add(1)
		go func() { defer supervisors.Done(); w.watch(superCtx, &r.killing, r.logf) }()
	}
	defer func() {
		stopSupervising()
		supervisors.Wait()
		for _, w := range r.workers {
			w.stop()
		}
	}()

	if cfg.RealtimeBin != "" {
		listen, err := freeAddr()
		if err != nil {
			return sum, err
		}
		metricsAddr, err := freeAddr()
		if err != nil {
			return sum, err
		}
		r.voice = &realtimeProc{bin: cfg.RealtimeBin, dir: cfg.Dir, queue: queue, server: cfg.Server, listen: listen,
			metrics: metricsAddr, instanceID: "chaos-realtime-" + queue, lease: cfg.OwnerLease, up: make(chan struct{})}
		if err := r.voice.start(ctx); err != nil {
			return sum, err
		}
		defer r.voice.signal(syscall.SIGTERM, 25*time.Second)
	}

	// Load and faults for cfg.Duration, progress meanwhile.
	r.start = time.Now()
	r.logf("chaos: seed %d, ledger %s, %s, %d starters, task queue %s, dir %s", cfg.Seed, cfg.Ledger, cfg.Duration, cfg.Starters, queue, cfg.Dir)
	loadCtx, stopLoad := context.WithTimeout(ctx, cfg.Duration)
	defer stopLoad()
	var load sync.WaitGroup
	for i := range cfg.Starters {
		load.Add(1)
		go func() { defer load.Done(); r.starter(loadCtx, i) }()
	}
	if r.voice != nil {
		for i := range voiceUsers {
			load.Add(1)
			go func() { defer load.Done(); r.voiceCaller(loadCtx, i, packets) }()
		}
	}
	for _, inj := range r.injectors() {
		load.Add(1)
		go func() { defer load.Done(); inj(loadCtx) }()
	}
	progressCtx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	progressDone := make(chan struct{})
	go func() { defer close(progressDone); r.progress(progressCtx) }()
	load.Wait()
	r.logf("chaos: load over after %s; draining (at most %s)", time.Since(r.start).Round(time.Second), cfg.DrainTimeout)

	// Drain (workflows, then voice sessions, in one bound), collect, check.
	drainDeadline := time.Now().Add(cfg.DrainTimeout)
	drained := r.drain(ctx, drainDeadline)
	var voiceSessions []chaoscheck.VoiceSession
	var realtimeIdle *chaoscheck.RealtimeIdle
	if r.voice != nil {
		var settled bool
		if voiceSessions, settled, err = r.settledVoiceSessions(ctx, queue, drainDeadline); err != nil {
			return sum, fmt.Errorf("chaosrun: list voice sessions: %w", err)
		}
		drained = drained && settled
		// The sessions' reconciliations (a hold whose release failed, a
		// reserve whose reply may have been lost) must finish too.
		if err := r.trackVoiceReconciles(ctx, queue); err != nil {
			return sum, fmt.Errorf("chaosrun: list voice reconciliations: %w", err)
		}
		drained = r.drain(ctx, drainDeadline) && drained
		// Every call has ended: the realtime process is back to its idle
		// goroutines and holds no gate, or a call left something behind.
		if realtimeIdle, err = r.voice.idleCheck(ctx, time.Now().Add(20*time.Second)); err != nil {
			return sum, fmt.Errorf("chaosrun: read the realtime process's metrics: %w", err)
		}
	}
	stopProgress()
	<-progressDone
	data, err := r.collect(ctx, &sum)
	if err != nil {
		return sum, err
	}
	data.Credited = credited
	if r.voice != nil {
		data.VoiceUsers, data.Voice, data.Realtime = voiceUsersSet, voiceSessions, realtimeIdle
		sum.Realtime = *realtimeIdle
		r.mu.Lock()
		sum.VoiceCalls, sum.VoiceCallErrors = r.voiceCalls, r.voiceCallErrors
		r.mu.Unlock()
		sum.RealtimeKills, sum.VoiceSessions = int(r.nRealtimeKills.Load()), len(data.Voice)
		for _, v := range data.Voice {
			if v.Status == chaoscheck.Running {
				sum.VoiceOpen++
			}
			if v.State == "ORPHANED" {
				sum.VoiceOrphaned++
			}
		}
	}
	sum.Drained = drained
	sum.Violations = chaoscheck.Check(data)
	sum.ConsensusChecked, sum.Answers = len(data.Consensus), len(data.Answers)
	for _, a := range data.Answers {
		if a.Uncertain {
			sum.Uncertain++
		}
	}
	sum.Holds, sum.JournalTx = len(data.Ledger.Reservations), len(data.Ledger.Transactions)
	sum.WorkerKills, sum.ServerRestarts, sum.LedgerOutages = int(r.nKills.Load()), int(r.nRestarts.Load()), int(r.nOutages.Load())
	sum.DuplicatesRefused = int(r.nDupRefused.Load())
	for _, w := range r.workers {
		w.mu.Lock()
		sum.WorkerExits += w.unplaned
		w.mu.Unlock()
	}
	sum.RestartSkipped = r.skipped
	sum.ProviderCalls = r.plan.Counts()
	if len(sum.Violations) > 0 {
		return sum, ErrViolations
	}
	return sum, nil
}

// logf writes one line to Out; the run's goroutines share it, and Out may
// be a buffer (tests).
func (r *run) logf(format string, args ...any) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	fmt.Fprintf(r.out, format+"\n", args...)
}

func (r *run) track(id, typ string, runID string, set func(*tracked)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.wfs[id]
	if t == nil {
		t = &tracked{id: id, typ: typ, runIDs: map[string]bool{}}
		set(t)
		r.wfs[id] = t
		r.order = append(r.order, id)
	}
	if runID != "" {
		t.runIDs[runID] = true
	}
}

// retryStart retries a start that failed for lack of a server (a restart in
// progress) until it is accepted, refused for good, or the wait is over.
func retryStart(ctx context.Context, start func(context.Context) error) error {
	deadline := time.Now().Add(maxStartWait)
	for {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := start(sctx)
		cancel()
		var dup *inferflow.DuplicateJobError
		var val *inferflow.ValidationError
		if err == nil || errors.As(err, &dup) || errors.As(err, &val) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Second)
	}
}

// starter starts workflows until ctx ends: consensus evaluations and billed
// jobs, a quarter of the jobs started a second time at once.
func (r *run) starter(ctx context.Context, n int) {
	rng := rand.New(rand.NewPCG(uint64(r.cfg.Seed), uint64(n)+1))
	for seq := 0; ctx.Err() == nil; seq++ {
		if rng.IntN(10) < 6 {
			r.startConsensus(ctx, fmt.Sprintf("chaos-%d-s%d-c%d", r.cfg.Seed, n, seq), 2+rng.IntN(2))
		} else {
			r.startJob(ctx, rng, fmt.Sprintf("chaos-%d-s%d-j%d", r.cfg.Seed, n, seq))
		}
		pace := r.cfg.Pace/2 + time.Duration(rng.Int64N(int64(r.cfg.Pace)))
		_ = sleep(ctx, pace)
	}
}

func (r *run) startConsensus(ctx context.Context, item string, quorum int) {
	timeout := callTimeout
	req := inferflow.ConsensusRequest{ItemID: item, Image: chaosImage,
		Options: &wire.ConsensusOptions{Quorum: &quorum, VisionTimeoutMs: &timeout, JudgeTimeoutMs: &timeout}}
	var started *inferflow.Run
	err := retryStart(ctx, func(sctx context.Context) error {
		var err error
		started, err = r.ifc.StartConsensus(sctx, req)
		return err
	})
	if err != nil {
		r.logf("start consensus %s: %v", item, err)
		return
	}
	r.track(started.GetID(), wire.WorkflowConsensusEvaluation, started.GetRunID(), func(t *tracked) { t.itemID, t.quorum = item, quorum })
}

func (r *run) startJob(ctx context.Context, rng *rand.Rand, job string) {
	timeout := callTimeout
	policy := wire.StrictBilling
	if rng.IntN(2) == 0 {
		policy = wire.BestEffortBilling
	}
	user := fmt.Sprintf("chaos-u%d", rng.IntN(chaosUsers))
	in := wire.InferenceInput{UserID: user, JobID: job,
		Payload: wire.InferencePayload{ModelID: chaosModel.ID, PromptTokens: 50 + rng.IntN(400), Prompt: "chaos " + job},
		Options: &wire.InferenceOptions{BillingPolicy: policy, TimeoutMs: &timeout,
			Reconcile: &wire.ReconcileOptions{InitialBackoffMs: 500, MaxBackoffMs: 5000}}}
	starts := 1
	if rng.IntN(4) == 0 {
		starts = 2 // the duplicate: the same job started again at once
	}
	var wg sync.WaitGroup
	for range starts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var run client.WorkflowRun
			err := retryStart(ctx, func(sctx context.Context) error {
				var err error
				run, err = r.ifc.StartInference(sctx, in)
				return err
			})
			var dup *inferflow.DuplicateJobError
			switch {
			case err == nil:
				r.track(run.GetID(), wire.WorkflowInferenceJob, run.GetRunID(), func(t *tracked) { t.jobID, t.userID = job, user })
			case errors.As(err, &dup):
				r.nDupRefused.Add(1)
				r.track(wire.InferenceWorkflowID(job), wire.WorkflowInferenceJob, dup.RunID, func(t *tracked) { t.jobID, t.userID = job, user })
			default:
				r.logf("start job %s: %v", job, err)
			}
		}()
	}
	wg.Wait()
}

// injectors are the fault loops, each on its own seeded schedule.
func (r *run) injectors() []func(context.Context) {
	rng := rand.New(rand.NewPCG(uint64(r.cfg.Seed), 1000))
	// every returns the waits of a schedule: first within [first, first+spread),
	// then every [gap, gap+spread).
	every := func(first, gap, spread time.Duration) func() time.Duration {
		next := first
		return func() time.Duration {
			d := next + time.Duration(rng.Int64N(int64(spread)))
			next = gap
			return d
		}
	}
	var mu sync.Mutex // rng is shared by the schedules
	draw := func(f func() time.Duration) func() time.Duration {
		return func() time.Duration { mu.Lock(); defer mu.Unlock(); return f() }
	}
	killWait := draw(every(6*time.Second, 10*time.Second, 8*time.Second))
	restartWait := draw(every(20*time.Second, 50*time.Second, 15*time.Second))
	outageWait := draw(every(12*time.Second, 20*time.Second, 15*time.Second))
	pick := func(n int) int { mu.Lock(); defer mu.Unlock(); return rng.IntN(n) }
	loop := func(wait func() time.Duration, do func(context.Context)) func(context.Context) {
		return func(ctx context.Context) {
			for {
				_ = sleep(ctx, wait())
				if ctx.Err() != nil {
					return
				}
				do(ctx)
			}
		}
	}
	injectors := []func(context.Context){
		loop(killWait, func(ctx context.Context) {
			w := r.workers[pick(len(r.workers))]
			r.killing.Lock()
			defer r.killing.Unlock()
			w.kill()
			r.mu.Lock()
			r.kills = append(r.kills, kill{worker: w.n, at: time.Now()})
			r.mu.Unlock()
			r.nKills.Add(1)
			r.logf("  %s  fault: kill -9 worker %d", r.elapsed(), w.n)
			_ = sleep(ctx, time.Duration(500+pick(2500))*time.Millisecond)
			for {
				if err := w.start(); err == nil {
					return
				} else if ctx.Err() != nil {
					r.logf("worker %d not restarted: %v", w.n, err)
					return
				}
				time.Sleep(time.Second)
			}
		}),
		loop(restartWait, func(ctx context.Context) {
			r.mu.Lock()
			skipped := r.skipped != ""
			r.mu.Unlock()
			if skipped {
				return
			}
			from := time.Now()
			r.logf("  %s  fault: restart the Temporal server", r.elapsed())
			err := r.cfg.Server.Restart(context.WithoutCancel(ctx))
			r.mu.Lock()
			r.downs = append(r.downs, [2]time.Time{from, time.Now()})
			r.mu.Unlock()
			switch {
			case errors.Is(err, ErrRestartUnsupported):
				r.mu.Lock()
				r.skipped = err.Error()
				r.mu.Unlock()
				r.logf("  %s  skipped: %v", r.elapsed(), err)
			case err != nil:
				r.logf("  %s  server restart FAILED: %v", r.elapsed(), err)
			default:
				r.nRestarts.Add(1)
				r.logf("  %s  server back after %s", r.elapsed(), time.Since(from).Round(100*time.Millisecond))
			}
		}),
		loop(outageWait, func(ctx context.Context) {
			d := time.Duration(3000+pick(9000)) * time.Millisecond
			what := "PostgreSQL ledger down (fault proxy)"
			if r.target.kind == "sqlite" {
				what = "SQLite ledger file locked"
			}
			r.logf("  %s  fault: %s for %s", r.elapsed(), what, d.Round(100*time.Millisecond))
			if err := r.target.outage(ctx, d); err != nil {
				r.logf("  %s  ledger outage failed: %v", r.elapsed(), err)
				return
			}
			r.nOutages.Add(1)
		}),
	}
	if r.voice != nil {
		realtimeWait := draw(every(10*time.Second, 15*time.Second, 15*time.Second))
		injectors = append(injectors, loop(realtimeWait, func(ctx context.Context) {
			// The last quarter of the load is left to the last process, so
			// that the goroutine check (idleCheck) has its calls to judge.
			if time.Since(r.start) > r.cfg.Duration*3/4 {
				return
			}
			r.voice.signal(syscall.SIGKILL, 5*time.Second)
			r.nRealtimeKills.Add(1)
			r.logf("  %s  fault: kill -9 the realtime process", r.elapsed())
			_ = sleep(ctx, time.Duration(500+pick(1500))*time.Millisecond)
			if err := r.voice.start(context.WithoutCancel(ctx)); err != nil {
				r.logf("  %s  realtime not restarted: %v", r.elapsed(), err)
			}
		}))
	}
	return injectors
}

// catalogFlag is the workers' --models: the billed jobs' model and the
// model voice responses are billed as.
func catalogFlag() string {
	ms := []ledger.Model{chaosModel}
	for _, m := range ledger.DefaultCatalog() {
		if m.ID == "offline-small" {
			ms = append(ms, m)
		}
	}
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%s:%d:%d:%d", m.ID, m.PromptPer1K, m.CompletionPer1K, m.MaxCompletionTokens))
	}
	return strings.Join(parts, ",")
}

func (r *run) elapsed() string { return fmt.Sprintf("[%5.1fs]", time.Since(r.start).Seconds()) }

func (r *run) progress(ctx context.Context) {
	t := time.NewTicker(r.cfg.Progress)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		started, closed := 0, 0
		for _, w := range r.wfs {
			started++
			if w.closed {
				closed++
			}
		}
		r.mu.Unlock()
		c := r.plan.Counts()
		faults := 0 // closed is counted by the drain only
		for f, n := range c {
			if f != providerplan.None {
				faults += n
			}
		}
		r.logf("  %s  started %d, seen closed %d; kills %d, server restarts %d, ledger outages %d; provider calls %d (%d faults)",
			r.elapsed(), started, closed, r.nKills.Load(), r.nRestarts.Load(), r.nOutages.Load(), c[providerplan.None]+faults, faults)
	}
}
