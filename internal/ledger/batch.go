package ledger

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// batcher turns concurrent requests into batches without a goroutine of its
// own: each caller queues its request, and whichever caller holds the leader
// token runs everything queued (up to max) through run, then hands the token
// on. Both backends use it to share one commit among many ledger operations:
// a commit (WAL write, fsync, round trip) costs far more than the work of one
// operation, and there is only one writer in SQLite anyway.
type batcher[R any] struct {
	max    int
	run    func(batch []*batchOp[R]) // must call finish on every op
	leader chan struct{}             // one token

	mu      sync.Mutex
	pending []*batchOp[R]

	batches, ops atomic.Int64 // statistics: ops/batches is the mean batch size
}

type batchOp[R any] struct {
	ctx   context.Context
	req   R
	state atomic.Int32 // opQueued → opClaimed (by a leader) or opAbandoned (by its caller)
	done  chan error   // buffered: finish never blocks
}

const (
	opQueued int32 = iota
	opClaimed
	opAbandoned
)

func (op *batchOp[R]) finish(err error) { op.done <- err }

func newBatcher[R any](max, leaders int, run func([]*batchOp[R])) *batcher[R] {
	return &batcher[R]{max: max, run: run, leader: make(chan struct{}, leaders)}
}

// do queues req and waits for its outcome. If ctx ends before a leader
// claims the request, it never runs and do returns ctx.Err(); once claimed
// it runs to completion, because one caller's cancellation must not abort
// a batch shared with others.
func (b *batcher[R]) do(ctx context.Context, req R) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &batchOp[R]{ctx: ctx, req: req, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, op)
	b.mu.Unlock()
	for {
		select {
		case err := <-op.done:
			return err
		case b.leader <- struct{}{}:
			// The previous leader is done: op has finished or is still queued.
			// Yield once so callers that leader just woke can queue their next
			// request into this batch (larger batches, fewer commits).
			runtime.Gosched()
			b.lead(op)
			<-b.leader
		case <-ctx.Done():
			if op.state.CompareAndSwap(opQueued, opAbandoned) {
				return ctx.Err()
			}
			return <-op.done // already running: its outcome is the answer
		}
	}
}

// lead runs queued batches until own has been claimed.
func (b *batcher[R]) lead(own *batchOp[R]) {
	for own.state.Load() == opQueued {
		b.mu.Lock()
		n := min(len(b.pending), b.max)
		batch := make([]*batchOp[R], 0, n)
		for _, op := range b.pending[:n] {
			if op.state.CompareAndSwap(opQueued, opClaimed) {
				batch = append(batch, op)
			}
		}
		b.pending = append(b.pending[:0:0], b.pending[n:]...)
		b.mu.Unlock()
		if len(batch) == 0 {
			return // own was abandoned meanwhile
		}
		b.batches.Add(1)
		b.ops.Add(int64(len(batch)))
		b.run(batch)
	}
}
