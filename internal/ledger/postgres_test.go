package ledger

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

const defaultTestPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var pgReach struct {
	once sync.Once
	err  error
}

// postgresBackend gives each test its own schema (search_path), dropped in
// t.Cleanup, so parallel tests and parallel `go test` runs never collide.
func postgresBackend(t testing.TB) backend {
	base := os.Getenv("INFERFLOW_TEST_POSTGRES_DSN")
	if base == "" {
		base = defaultTestPostgresDSN
	}
	pgReach.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err == nil {
			err = c.Ping(ctx)
			c.Close(ctx)
		}
		pgReach.err = err
	})
	if pgReach.err != nil {
		if os.Getenv("INFERFLOW_SKIP_POSTGRES") == "1" {
			t.Skipf("PostgreSQL unreachable (%v); skipped because INFERFLOW_SKIP_POSTGRES=1", pgReach.err)
		}
		t.Fatalf("PostgreSQL at %s is unreachable: %v\n"+
			"start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"+
			"or point INFERFLOW_TEST_POSTGRES_DSN at a server, or set INFERFLOW_SKIP_POSTGRES=1 to skip",
			base, pgReach.err)
	}
	return backend{name: "postgres", newDSN: func(t testing.TB) string { return freshSchema(t, base) }}
}

func freshSchema(t testing.TB, base string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "ledger_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
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

func TestPostgresConformance(t *testing.T) {
	runConformance(t, postgresBackend(t))
}
