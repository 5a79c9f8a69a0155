package ledger

import (
	"testing"

	"github.com/inferflow/inferflow/internal/ledger/ledgertest"
)

// postgresBackend gives each test its own schema on the local PostgreSQL
// (ledgertest.PostgresDSN), dropped in t.Cleanup, so parallel tests and
// parallel `go test` runs never collide.
func postgresBackend(testing.TB) backend {
	return backend{name: "postgres", newDSN: func(t testing.TB) string { return ledgertest.PostgresDSN(t) }}
}

func TestPostgresConformance(t *testing.T) {
	runConformance(t, postgresBackend(t))
}
