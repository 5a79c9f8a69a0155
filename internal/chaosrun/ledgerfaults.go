package chaosrun

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the SQLite driver the ledger uses, for the lock

	"github.com/inferflow/inferflow/internal/faultproxy"
)

// DefaultPostgresDSN is the local trust-auth server every development
// machine runs; the run makes a scratch database on it and drops it.
const DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ledgerTarget is where the workers' ledger lives and how the run makes it
// unreachable: a fault proxy in front of PostgreSQL, or an exclusive lock
// on the SQLite file.
type ledgerTarget struct {
	kind      string // sqlite or postgres
	directDSN string // the run's own connection (snapshots, credits)
	workerDSN string // the workers' (through the proxy for PostgreSQL)
	proxy     *faultproxy.Proxy
	cleanup   func() error
}

// newPostgresTarget creates a scratch database on base's server and a fault
// proxy in front of that server.
func newPostgresTarget(ctx context.Context, base string) (*ledgerTarget, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("chaosrun: -postgres-dsn must be a postgres:// URL (%v)", err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	db := "inferflow_chaos_" + hex.EncodeToString(b[:])
	admin := func(sql string) error {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(cctx, base)
		if err != nil {
			return err
		}
		defer c.Close(cctx)
		_, err = c.Exec(cctx, sql)
		return err
	}
	if err := admin("CREATE DATABASE " + db); err != nil {
		return nil, fmt.Errorf("chaosrun: create scratch database: %w", err)
	}
	drop := func() error { return admin("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)") }
	proxy, err := faultproxy.Listen("127.0.0.1:0", u.Host)
	if err != nil {
		_ = drop()
		return nil, err
	}
	direct, viaProxy := *u, *u
	direct.Path, viaProxy.Path = "/"+db, "/"+db
	viaProxy.Host = proxy.Addr()
	return &ledgerTarget{kind: "postgres", directDSN: direct.String(), workerDSN: viaProxy.String(), proxy: proxy,
		cleanup: func() error {
			_ = proxy.Close()
			return drop()
		}}, nil
}

func newSQLiteTarget(path string) *ledgerTarget {
	return &ledgerTarget{kind: "sqlite", directDSN: path, workerDSN: path, cleanup: func() error { return nil }}
}

// outage makes the ledger unreachable for d: PostgreSQL through the proxy
// (open connections cut, new ones dropped), SQLite by an exclusive write
// lock on the file (writers wait out busy_timeout, then fail).
func (t *ledgerTarget) outage(ctx context.Context, d time.Duration) error {
	if t.proxy != nil {
		t.proxy.Down()
		defer t.proxy.Up()
		return sleep(ctx, d)
	}
	db, err := sql.Open("sqlite", t.directDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Waits for the current writer, then keeps every other writer out.
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 30000"); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		return fmt.Errorf("lock the SQLite ledger: %w", err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK") //nolint:errcheck // releases the lock either way
	return sleep(ctx, d)
}

// sleep waits d or until ctx ends (nil either way: an injector cut short
// still undoes its fault).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}
