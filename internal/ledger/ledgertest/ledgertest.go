// Package ledgertest gives tests an isolated PostgreSQL database for the
// ledger: a fresh schema per test on the local server, dropped afterwards.
package ledgertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDSN is the PostgreSQL every development and CI machine runs.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var reach struct {
	once sync.Once
	err  error
}

// BaseDSN is $INFERFLOW_TEST_POSTGRES_DSN or DefaultDSN.
func BaseDSN() string {
	if dsn := os.Getenv("INFERFLOW_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// PostgresDSN returns a DSN whose search_path is a fresh schema, dropped in
// t.Cleanup, so parallel tests and runs never collide. An unreachable server
// fails the test with how to start it, unless INFERFLOW_SKIP_POSTGRES=1.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := BaseDSN()
	reach.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err == nil {
			err = c.Ping(ctx)
			c.Close(ctx)
		}
		reach.err = err
	})
	if reach.err != nil {
		if os.Getenv("INFERFLOW_SKIP_POSTGRES") == "1" {
			t.Skipf("PostgreSQL unreachable (%v); skipped because INFERFLOW_SKIP_POSTGRES=1", reach.err)
		}
		t.Fatalf("PostgreSQL at %s is unreachable: %v\n"+
			"start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"+
			"or point INFERFLOW_TEST_POSTGRES_DSN at a server, or set INFERFLOW_SKIP_POSTGRES=1 to skip",
			base, reach.err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "ledger_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	exec := func(sql string) error {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if err := exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		t.Fatalf("INFERFLOW_TEST_POSTGRES_DSN must be a postgres:// URL, got %q", base)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
