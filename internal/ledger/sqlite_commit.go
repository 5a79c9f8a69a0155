package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Group commit for the SQLite writer. Each commit writes every page it
// touched to the WAL; nearly all of a ledger operation's cost is those page
// writes, and concurrent operations touch the same pages. So concurrent write
// requests queue up, and whoever holds the writer token runs the whole queue
// as one transaction, each request inside its own SAVEPOINT so that a failing
// request rolls back alone. Requests still apply one after another (serial
// order), they just share a commit. No goroutine is started: the leader is
// one of the callers.

// maxBatch bounds one group commit (and so every waiting caller's latency).
const maxBatch = 64

type groupCommit struct {
	leader  chan struct{} // one token: the current batch leader
	mu      sync.Mutex
	pending []*writeOp

	commits, ops atomic.Int64 // statistics: ops/commits is the mean batch size
}

func newGroupCommit() groupCommit { return groupCommit{leader: make(chan struct{}, 1)} }

const (
	opQueued int32 = iota
	opClaimed
	opAbandoned
)

type writeOp struct {
	ctx   context.Context
	fn    func(ctx context.Context, tx *sql.Tx) error
	state atomic.Int32 // opQueued → opClaimed (by a leader) or opAbandoned (by its caller)
	done  chan error   // buffered: the leader never blocks on delivery
}

// commitThen makes a batched request keep its changes (RELEASE instead of
// ROLLBACK TO) and still return err: used when a request is rejected after
// it changed state that must stick (an overdue hold met by Capture/Release
// is expired on the spot).
type commitThen struct{ err error }

func (c commitThen) Error() string { return c.err.Error() }

// writeTx runs fn in a write transaction shared with concurrent callers. If
// ctx ends before a leader claims the request, it never runs; once claimed
// it runs to completion (a short, bounded batch) without ctx's cancellation,
// because interrupting one statement would roll back everyone's transaction.
func (l *sqliteLedger) writeTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	l.gc.mu.Lock()
	l.gc.pending = append(l.gc.pending, op)
	l.gc.mu.Unlock()
	for {
		select {
		case err := <-op.done:
			return err
		case l.gc.leader <- struct{}{}:
			// A previous leader has finished: op is either done or still queued.
			// Yield once so callers just woken by that leader can queue their
			// next request into this batch (larger batches, fewer commits).
			runtime.Gosched()
			l.leadBatches(op)
			<-l.gc.leader
		case <-ctx.Done():
			if op.state.CompareAndSwap(opQueued, opAbandoned) {
				return ctx.Err()
			}
			return <-op.done // already running: its outcome is the answer
		}
	}
}

// leadBatches runs queued requests until own has run.
func (l *sqliteLedger) leadBatches(own *writeOp) {
	for own.state.Load() == opQueued {
		l.gc.mu.Lock()
		n := min(len(l.gc.pending), maxBatch)
		batch := make([]*writeOp, 0, n)
		for _, op := range l.gc.pending[:n] {
			if op.state.CompareAndSwap(opQueued, opClaimed) {
				batch = append(batch, op)
			}
		}
		l.gc.pending = append(l.gc.pending[:0:0], l.gc.pending[n:]...)
		l.gc.mu.Unlock()
		if len(batch) == 0 {
			return // own was abandoned concurrently; nothing of ours is left
		}
		l.runBatch(batch)
	}
}

func (l *sqliteLedger) runBatch(batch []*writeOp) {
	results := make([]error, len(batch))
	err := l.runBatchTx(batch, results)
	l.gc.commits.Add(1)
	l.gc.ops.Add(int64(len(batch)))
	for i, op := range batch {
		if err != nil {
			op.done <- err // nothing in the batch committed
		} else {
			op.done <- results[i]
		}
	}
}

func (l *sqliteLedger) runBatchTx(batch []*writeOp, results []error) error {
	bg := context.Background() // see writeTx: no one caller may cancel the batch
	tx, err := l.w.BeginTx(bg, nil)
	if err != nil {
		return fmt.Errorf("ledger: sqlite begin: %w", err)
	}
	abort := func(err error) error {
		_ = tx.Rollback() // err is the one worth reporting
		return fmt.Errorf("ledger: sqlite batch: %w", err)
	}
	for i, op := range batch {
		if _, err := tx.StmtContext(bg, l.st.savepoint).ExecContext(bg); err != nil {
			return abort(err)
		}
		ferr := op.fn(context.WithoutCancel(op.ctx), tx)
		var ct commitThen
		switch {
		case ferr == nil:
		case errors.As(ferr, &ct):
			results[i] = ct.err
		default:
			results[i] = ferr
			if _, err := tx.StmtContext(bg, l.st.rollbackTo).ExecContext(bg); err != nil {
				return abort(err)
			}
		}
		if _, err := tx.StmtContext(bg, l.st.release).ExecContext(bg); err != nil {
			return abort(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger: sqlite commit: %w", err)
	}
	return nil
}
