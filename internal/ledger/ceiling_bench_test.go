package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/inferflow/inferflow/internal/ledger/ledgertest"
)

// BenchmarkLedgerCeiling measures each backend against what the machine
// does with durable commits at the same moment, so the figure is a ratio
// that survives a busy shared machine (absolute rates drift by tens of
// percent between runs here):
//
//   - postgres: the ledger's reserve+capture pairs/s at 16 concurrent
//     callers against `pgbench -c 16 -j 2 -N` transactions/s on a scratch
//     database of the same server, alternating for LEDGER_CEILING_ROUNDS
//     rounds (default 2) of LEDGER_CEILING_SECONDS each (default 10).
//     Skipped if pgbench or the server is missing.
//   - sqlite: the same pairs against the same ledger operations run as
//     plain statements in one transaction per operation (no group commit),
//     SQLite's own ceiling for one durable commit per operation.
//
// Metrics: pairs/s, the reference's rate (pgbench-tps, plain-pairs/s), and
// their ratio (pairs-per-pgbench-tx, x-plain).
//
//	go test -run '^$' -bench LedgerCeiling ./internal/ledger/
func BenchmarkLedgerCeiling(b *testing.B) {
	b.Run("postgres", benchPostgresCeiling)
	b.Run("sqlite", benchSQLiteCeiling)
}

const ceilingCallers, ceilingUsers = 16, 64

func ceilingRounds() (rounds int, each time.Duration) {
	rounds, secs := 2, 10
	if n, err := strconv.Atoi(os.Getenv("LEDGER_CEILING_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	if n, err := strconv.Atoi(os.Getenv("LEDGER_CEILING_SECONDS")); err == nil && n > 0 {
		secs = n
	}
	return rounds, time.Duration(secs) * time.Second
}

func benchPostgresCeiling(b *testing.B) {
	pgbench, err := exec.LookPath("pgbench")
	if err != nil {
		b.Skip("pgbench not found in PATH")
	}
	ctx := context.Background()
	admin, err := connectBase(ctx)
	if err != nil {
		b.Skipf("PostgreSQL unreachable: %v", err)
	}
	defer admin.Close(ctx)
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	db := "inferflow_pgbench_" + hex.EncodeToString(tag[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		b.Fatalf("create scratch database: %v", err)
	}
	defer func() {
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			b.Errorf("drop scratch database %s: %v", db, err)
		}
	}()
	u, err := url.Parse(ledgertest.BaseDSN())
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + db
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	if out, err := exec.Command(pgbench, "-i", "-q", "-s", "1", u.String()).CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v\n%s", err, out)
	}

	// The ledger's connections carry an application name, so the CPU of
	// their server processes can be found and counted (see cpuMeter).
	app := "inferflow-ceiling-" + hex.EncodeToString(tag[:])
	dsn, err := url.Parse(ledgertest.PostgresDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	dq := dsn.Query()
	dq.Set("application_name", app)
	dsn.RawQuery = dq.Encode()
	l, err := Open(ctx, Config{DSN: dsn.String(), MaxConns: benchConns(ceilingCallers)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	run := fundBenchUsers(b, l)
	meter := &cpuMeter{admin: admin}

	rounds, each := ceilingRounds()
	runPairs(b, l, run+"-warm", time.Second) // connections, plans
	pl := l.(*pgLedger)
	var batches0, ops0, setBased0 int64
	for _, ln := range pl.lanes {
		batches0, ops0 = batches0+ln.batches.Load(), ops0+ln.ops.Load()
	}
	setBased0 = pl.setBased.Load()
	var tpsSum, pairsSum, txCPU, pairCPU float64
	b.ResetTimer()
	for range b.N {
		tpsSum, pairsSum, txCPU, pairCPU = 0, 0, 0, 0
		for r := range rounds {
			tps, tcpu, err := runPgbench(ctx, meter, pgbench, u.String(), db, each)
			if err != nil {
				b.Fatal(err)
			}
			start, err := meter.sample(ctx, "application_name", app)
			if err != nil {
				b.Fatal(err)
			}
			pairs := runPairs(b, l, fmt.Sprint(run, "-", r), each)
			pcpu, client, err := meter.since(ctx, start, "application_name", app)
			if err != nil {
				b.Fatal(err)
			}
			n := pairs * each.Seconds()
			pcpu /= n
			b.Logf("round %d: pgbench %.0f tx/s (%.3f cpu-ms/tx), ledger %.0f pairs/s (%.3f cpu-ms/pair, %.3f in this process); ratio %.2f, cpu ratio %.2f; load %s",
				r+1, tps, tcpu*1e3, pairs, pcpu*1e3, client/n*1e3, pairs/tps, tcpu/pcpu, loadAvg())
			tpsSum += tps
			pairsSum += pairs
			txCPU += tcpu
			pairCPU += pcpu
		}
	}
	b.StopTimer()
	b.ReportMetric(pairsSum/float64(rounds), "pairs/s")
	b.ReportMetric(tpsSum/float64(rounds), "pgbench-tps")
	b.ReportMetric(pairsSum/tpsSum, "pairs-per-pgbench-tx")
	b.ReportMetric(txCPU/float64(rounds)*1e3, "cpu-ms/pgbench-tx")
	b.ReportMetric(pairCPU/float64(rounds)*1e3, "cpu-ms/pair")
	b.ReportMetric(txCPU/pairCPU, "pgbench-tx-cpu-per-pair-cpu")
	// How the ledger's operations went: mean batch size, and the share
	// done by the set-based calls (the rest ran one call each).
	var batches, ops int64
	for _, ln := range pl.lanes {
		batches, ops = batches+ln.batches.Load(), ops+ln.ops.Load()
	}
	if batches > batches0 {
		b.ReportMetric(float64(ops-ops0)/float64(batches-batches0), "ops/batch")
		b.ReportMetric(100*float64(pl.setBased.Load()-setBased0)/float64(ops-ops0), "set-based-%")
	}
}

func connectBase(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, ledgertest.BaseDSN())
	if err != nil {
		return nil, err
	}
	if err := c.Ping(cctx); err != nil {
		c.Close(ctx)
		return nil, err
	}
	return c, nil
}

var pgbenchTPS = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// runPgbench runs the simple-update (-N) script, 16 clients on 2 threads,
// for d and returns its transactions/s and the CPU seconds per transaction
// of pgbench and its server processes (on database db).
func runPgbench(ctx context.Context, meter *cpuMeter, pgbench, dsn, db string, d time.Duration) (tps, cpuPerTx float64, err error) {
	cmd := exec.Command(pgbench, "-n", "-c", "16", "-j", "2", "-N", "-T", strconv.Itoa(int(d.Seconds())), dsn)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("pgbench: %w", err)
	}
	// Its server processes end with it: keep each one's last reading.
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	last := map[int]float64{}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
poll:
	for {
		select {
		case err := <-waited:
			if err != nil {
				return 0, 0, fmt.Errorf("pgbench: %v\n%s", err, out.Bytes())
			}
			break poll
		case <-tick.C:
			s, err := meter.sample(ctx, "datname", db)
			if err != nil {
				_ = cmd.Process.Kill()
				<-waited
				return 0, 0, err
			}
			maps.Copy(last, s.procs)
		}
	}
	m := pgbenchTPS.FindSubmatch(out.Bytes())
	if m == nil {
		return 0, 0, fmt.Errorf("pgbench: no tps in its output:\n%s", out.Bytes())
	}
	tps, err = strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return 0, 0, err
	}
	total := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	for _, v := range last {
		total += v
	}
	return tps, total / (tps * d.Seconds()), nil
}

// cpuMeter reads the CPU time of server processes (from /proc, so the server
// must be local) picked by a pg_stat_activity column, plus this process's.
type cpuMeter struct{ admin *pgx.Conn }

type cpuSample struct {
	self  float64         // this process, seconds
	procs map[int]float64 // server process id → seconds
}

func (m *cpuMeter) sample(ctx context.Context, column, value string) (cpuSample, error) {
	s := cpuSample{self: selfCPU(), procs: map[int]float64{}}
	rows, err := m.admin.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE `+column+` = $1`, value)
	if err != nil {
		return s, fmt.Errorf("list server processes: %w", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return s, fmt.Errorf("list server processes: %w", err)
	}
	for _, pid := range pids {
		if v, ok := procCPU(int(pid)); ok {
			s.procs[int(pid)] = v
		}
	}
	return s, nil
}

// since is the CPU seconds this process and the sampled server processes
// (those of start, and any that appeared since) used after start, and the
// part of it this process used.
func (m *cpuMeter) since(ctx context.Context, start cpuSample, column, value string) (total, self float64, err error) {
	now, err := m.sample(ctx, column, value)
	if err != nil {
		return 0, 0, err
	}
	self = now.self - start.self
	total = self
	for pid, v := range now.procs {
		total += v - start.procs[pid] // 0 for a process that started since
	}
	return total, self, nil
}

// procCPU is a process's user+system CPU seconds from /proc/<pid>/stat.
func procCPU(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// Fields after the command name (which may hold spaces) start at ") ".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (ut + st) / clockTicks, true
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func benchSQLiteCeiling(b *testing.B) {
	ctx := context.Background()
	open := func(plain bool) Ledger {
		l, err := Open(ctx, Config{DSN: filepath.Join(b.TempDir(), "ledger.db"), MaxConns: ceilingCallers})
		if err != nil {
			b.Fatal(err)
		}
		if plain {
			sl := l.(*sqliteLedger)
			sl.gc = newBatcher(1, 1, sl.runPlain)
		}
		return l
	}
	grouped, plain := open(false), open(true)
	defer grouped.Close()
	defer plain.Close()
	runG, runP := fundBenchUsers(b, grouped), fundBenchUsers(b, plain)

	rounds, each := ceilingRounds()
	runPairs(b, plain, runP+"-warm", time.Second)
	runPairs(b, grouped, runG+"-warm", time.Second)
	var gSum, pSum float64
	b.ResetTimer()
	for range b.N {
		gSum, pSum = 0, 0
		for r := range rounds {
			p := runPairs(b, plain, fmt.Sprint(runP, "-", r), each)
			g := runPairs(b, grouped, fmt.Sprint(runG, "-", r), each)
			b.Logf("round %d: plain %.0f pairs/s, ledger %.0f pairs/s (%.2f)", r+1, p, g, g/p)
			gSum += g
			pSum += p
		}
	}
	b.StopTimer()
	b.ReportMetric(gSum/float64(rounds), "pairs/s")
	b.ReportMetric(pSum/float64(rounds), "plain-pairs/s")
	b.ReportMetric(gSum/pSum, "x-plain")
}

// runPlain is the SQLite reference: each operation's statements in a
// transaction of its own (BEGIN IMMEDIATE … COMMIT), nothing shared.
func (l *sqliteLedger) runPlain(batch []*batchOp[sqliteWrite]) {
	for _, op := range batch {
		op.finish(l.plainTx(op))
	}
}

func (l *sqliteLedger) plainTx(op *batchOp[sqliteWrite]) error {
	ctx := context.WithoutCancel(op.ctx)
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := op.req(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// fundBenchUsers credits the benchmark's users and returns a tag that keeps
// this run's idempotency keys unique.
func fundBenchUsers(b *testing.B, l Ledger) string {
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	run := hex.EncodeToString(tag[:])
	for u := range ceilingUsers {
		if err := l.Credit(context.Background(), fmt.Sprint("bu", u), 1<<40, fmt.Sprint("fund-", run, u)); err != nil {
			b.Fatal(err)
		}
	}
	return run
}

// runPairs runs reserve+capture pairs from 16 concurrent callers for d and
// returns pairs/s.
func runPairs(b *testing.B, l Ledger, run string, d time.Duration) float64 {
	ctx := context.Background()
	var next, done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range ceilingCallers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if err := reserveCapture(ctx, l, run, i, ceilingUsers); err != nil {
					b.Error(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}
