package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
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

	l, err := Open(ctx, Config{DSN: ledgertest.PostgresDSN(b), MaxConns: benchConns(ceilingCallers)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	run := fundBenchUsers(b, l)

	rounds, each := ceilingRounds()
	runPairs(b, l, run+"-warm", time.Second) // connections, plans
	var tpsSum, pairsSum float64
	b.ResetTimer()
	for range b.N {
		tpsSum, pairsSum = 0, 0
		for r := range rounds {
			tps, err := runPgbench(pgbench, u.String(), each)
			if err != nil {
				b.Fatal(err)
			}
			pairs := runPairs(b, l, fmt.Sprint(run, "-", r), each)
			b.Logf("round %d: pgbench %.0f tx/s, ledger %.0f pairs/s (%.2f)", r+1, tps, pairs, pairs/tps)
			tpsSum += tps
			pairsSum += pairs
		}
	}
	b.StopTimer()
	b.ReportMetric(pairsSum/float64(rounds), "pairs/s")
	b.ReportMetric(tpsSum/float64(rounds), "pgbench-tps")
	b.ReportMetric(pairsSum/tpsSum, "pairs-per-pgbench-tx")
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
// for d and returns its transactions/s.
func runPgbench(pgbench, dsn string, d time.Duration) (float64, error) {
	out, err := exec.Command(pgbench, "-n", "-c", "16", "-j", "2", "-N", "-T", strconv.Itoa(int(d.Seconds())), dsn).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %v\n%s", err, out)
	}
	m := pgbenchTPS.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench: no tps in its output:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
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
