package ledger

import (
	"context"
	"path/filepath"
	"testing"
)

func sqliteBackend() backend {
	return backend{name: "sqlite", newDSN: func(t testing.TB) string {
		return filepath.Join(t.TempDir(), "ledger.db")
	}}
}

func TestSQLiteConformance(t *testing.T) {
	runConformance(t, sqliteBackend())
}

func TestSQLiteRefusesMemory(t *testing.T) {
	for _, dsn := range []string{"", ":memory:", "file::memory:?mode=memory"} {
		if l, err := Open(context.Background(), Config{Driver: "sqlite", DSN: dsn}); err == nil {
			l.Close()
			t.Errorf("Open(%q) succeeded", dsn)
		}
	}
}
