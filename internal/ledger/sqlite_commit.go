package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Group commit for the SQLite writer. Each commit writes every page it
// touched to the WAL; nearly all of a ledger operation's cost is those page
// writes, and concurrent operations touch the same pages. So concurrent write
// requests are batched (see batcher) into one transaction, each request
// inside its own SAVEPOINT so that a failing request rolls back alone.
// Requests still apply one after another (serial order); they share a commit.

// maxBatch bounds one group commit (and so every waiting caller's latency).
const maxBatch = 64

type sqliteWrite = func(ctx context.Context, tx *sql.Tx) error

// commitThen makes a batched request keep its changes (RELEASE instead of
// ROLLBACK TO) and still return err: used when a request is rejected after
// it changed state that must stick (an overdue hold met by Capture/Release
// is expired on the spot).
type commitThen struct{ err error }

func (c commitThen) Error() string { return c.err.Error() }

// writeTx runs fn in a write transaction shared with concurrent callers.
// fn gets a context without ctx's cancellation (see batcher.do); interrupting
// one statement would roll back everyone's transaction.
func (l *sqliteLedger) writeTx(ctx context.Context, fn sqliteWrite) error {
	return l.gc.do(ctx, fn)
}

func (l *sqliteLedger) runBatch(batch []*batchOp[sqliteWrite]) {
	results := make([]error, len(batch))
	err := l.runBatchTx(batch, results)
	for i, op := range batch {
		if err != nil {
			op.finish(err) // nothing in the batch committed
		} else {
			op.finish(results[i])
		}
	}
}

func (l *sqliteLedger) runBatchTx(batch []*batchOp[sqliteWrite], results []error) error {
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
		ferr := op.req(context.WithoutCancel(op.ctx), tx)
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
