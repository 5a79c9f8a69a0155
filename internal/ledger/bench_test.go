package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkReserveCapture measures the saga's billing hot path: 16 concurrent
// callers each doing Reserve then Capture (distinct jobs, 64 users), reported
// as pairs/s.
//
//	go test -run '^$' -bench BenchmarkReserveCapture -benchtime 10000x ./internal/ledger/
func BenchmarkReserveCapture(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchReserveCapture(b, sqliteBackend()) })
	b.Run("postgres", func(b *testing.B) { benchReserveCapture(b, postgresBackend(b)) })
}

func benchReserveCapture(b *testing.B, be backend) {
	const callers, users = 16, 64
	ctx := context.Background()
	l, err := Open(ctx, Config{DSN: be.newDSN(b), MaxConns: benchConns(callers)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	run := hex.EncodeToString(tag[:]) // keys stay unique if the store is reused
	for u := range users {
		if err := l.Credit(ctx, fmt.Sprint("bu", u), 1<<40, fmt.Sprint("fund-", run, u)); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range callers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if err := reserveCapture(ctx, l, run, i, users); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pairs/s")
	var batches, ops int64
	switch l := l.(type) {
	case *sqliteLedger:
		batches, ops = l.gc.batches.Load(), l.gc.ops.Load()
	case *pgLedger:
		for _, b := range l.lanes {
			batches, ops = batches+b.batches.Load(), ops+b.ops.Load()
		}
	}
	if batches > 0 {
		b.ReportMetric(float64(ops)/float64(batches), "ops/commit")
	}
}

// benchConns lets a run try other pool sizes (LEDGER_BENCH_CONNS).
func benchConns(def int) int {
	if n, err := strconv.Atoi(os.Getenv("LEDGER_BENCH_CONNS")); err == nil && n > 0 {
		return n
	}
	return def
}

// reserveCapture is one benchmark pair: job i of run reserves for one of
// users' accounts, then captures slightly less than it reserved.
func reserveCapture(ctx context.Context, l Ledger, run string, i int64, users int) error {
	job := fmt.Sprint(run, "-", i)
	r, err := l.Reserve(ctx, ReserveRequest{UserID: fmt.Sprint("bu", i%int64(users)), ModelID: "gpt-4o",
		PromptTokens: 500, IdempotencyKey: "res_" + job})
	if err != nil {
		return err
	}
	_, err = l.Capture(ctx, CaptureRequest{ReservationID: r.ID, IdempotencyKey: "cap_" + job,
		Usage: Usage{PromptTokens: 480, CompletionTokens: 300, TotalTokens: 780}})
	return err
}
