package ledger

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

func TestUnreachable(t *testing.T) {
	ctx := context.Background()
	// A SQLite file held under an exclusive lock by another connection.
	path := filepath.Join(t.TempDir(), "ledger.db")
	if l, err := Open(ctx, Config{DSN: path}); err != nil {
		t.Fatal(err)
	} else {
		l.Close()
	}
	holder, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	conn, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK") //nolint:errcheck

	for _, tt := range []struct {
		name string
		open func() error
		want bool
	}{
		{"postgres port closed", func() error {
			_, err := Open(ctx, Config{DSN: "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"})
			return err
		}, true},
		{"postgres DSN unparsable", func() error {
			_, err := Open(ctx, Config{DSN: "postgres://postgres@127.0.0.1:5432/test?sslmode=nonsense"})
			return err
		}, false},
		{"sqlite locked by another process", func() error {
			// The ledger itself waits 10 s for a lock; a connection of
			// its kind that waits not at all gives the same error at once.
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = db.ExecContext(ctx, "INSERT INTO job_states (job_id, state, updated_at) VALUES ('j', 's', 0)")
			return err
		}, true},
		{"a refusal", func() error {
			return reject(ReasonInsufficientCredits, "no")
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.open()
			if err == nil {
				t.Fatal("no error")
			}
			if got := Unreachable(err); got != tt.want {
				t.Errorf("Unreachable(%v) = %v, want %v", err, got, tt.want)
			}
		})
	}
}
