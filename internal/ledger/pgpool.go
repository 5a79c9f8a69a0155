package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgPool is a small fixed-size pool of pgx connections. pgxpool would need a
// new module in go.mod (jackc/puddle); the ledger only needs "at most N
// connections, reuse idle ones, drop broken ones", which is this. It starts
// no goroutines: connections are dialled lazily by the caller that needs one.
// Each pgx.Conn keeps its own prepared-statement cache.
type pgPool struct {
	cfg   *pgx.ConnConfig
	slots chan struct{}  // one token per connection that may exist
	idle  chan *pgx.Conn // connections not in use

	mu     sync.Mutex
	closed bool
	// scrub keeps the DSN's password out of connection errors.
	scrub secretScrubber
}

var errPoolClosed = errors.New("ledger: postgres pool is closed")

func newPGPool(cfg *pgx.ConnConfig, size int, scrub secretScrubber) *pgPool {
	return &pgPool{cfg: cfg, slots: make(chan struct{}, size), idle: make(chan *pgx.Conn, size), scrub: scrub}
}

func (p *pgPool) acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("ledger: waiting for a postgres connection: %w", ctx.Err())
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		<-p.slots
		return nil, errPoolClosed
	}
	select {
	case c := <-p.idle:
		if !c.IsClosed() {
			return c, nil
		}
	default:
	}
	c, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		<-p.slots
		return nil, p.scrub.scrub(fmt.Errorf("ledger: connect to postgres: %w", err))
	}
	return c, nil
}

// release returns c to the pool; a connection that saw a non-SQL error
// (network, timeout, cancellation) is closed instead, since its protocol
// state is unknown.
func (p *pgPool) release(c *pgx.Conn, err error) {
	defer func() { <-p.slots }()
	var pgErr *pgconn.PgError
	healthy := err == nil || errors.As(err, &pgErr) || errors.Is(err, pgx.ErrNoRows)
	if healthy && !c.IsClosed() && c.PgConn().TxStatus() == 'I' {
		p.mu.Lock()
		if !p.closed {
			p.idle <- c // never blocks: at most cap(slots) connections exist
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	closeConn(c)
}

func (p *pgPool) close() {
	p.mu.Lock()
	p.closed = true
	var conns []*pgx.Conn
	for len(p.idle) > 0 {
		conns = append(conns, <-p.idle)
	}
	p.mu.Unlock()
	for _, c := range conns {
		closeConn(c)
	}
}

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.Close(ctx) // best effort: the server drops the session either way
}
