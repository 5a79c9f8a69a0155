package workflows

import (
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/inferflow/inferflow/internal/logging"
)

// The workflow layer and the client library are sealed: beyond what the
// Temporal SDK itself links, they depend on the standard library and the
// wire types only. A workflow that borrowed a storage or provider type would
// make that type its history format and link a database driver into every
// backend; this test fails on such an import.
func TestSealedPackages(t *testing.T) {
	// What the SDK packages the layer uses link anyway (gRPC brings net/http).
	sdk := deps(t, "go.temporal.io/sdk/workflow", "go.temporal.io/sdk/client", "go.temporal.io/sdk/temporal",
		"go.temporal.io/sdk/log", "go.temporal.io/api/enums/v1", "go.temporal.io/api/serviceerror")
	forbidden := []string{
		"modernc.org/sqlite", "github.com/jackc/pgx", "database/sql", "go.uber.org/zap", "net/http",
		"github.com/pion/", "github.com/prometheus/",
		"github.com/inferflow/inferflow/internal/", "github.com/inferflow/inferflow/gate",
		"github.com/inferflow/inferflow/activities",
	}
	const module = "github.com/inferflow/inferflow/"
	tests := []struct {
		pkg     string
		allowed []string // packages of this module it may link
	}{
		{"github.com/inferflow/inferflow/workflows", []string{"wire", "workflows"}},
		{"github.com/inferflow/inferflow/pkg/inferflow", []string{"wire", "workflows", "pkg/inferflow", "pkg/payloadcrypt"}},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			for p := range deps(t, tt.pkg) {
				if sdk[p] {
					continue
				}
				for _, f := range forbidden {
					if p == f || strings.HasPrefix(p, f) {
						t.Errorf("%s links %s", tt.pkg, p)
					}
				}
				if rel, ok := strings.CutPrefix(p, module); ok && !slices.Contains(tt.allowed, rel) {
					t.Errorf("%s links %s; allowed from this module: %v", tt.pkg, p, tt.allowed)
				}
			}
		})
	}
}

// deps is the set `go list -deps` prints for pkgs.
func deps(t *testing.T, pkgs ...string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps %v: %v", pkgs, err)
	}
	set := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		set[p] = true
	}
	return set
}

// The workflows' paging-severity marker is the worker's.
func TestCriticalMatchesLogging(t *testing.T) {
	if !reflect.DeepEqual(critical, logging.Critical) {
		t.Errorf("critical = %v, logging.Critical = %v", critical, logging.Critical)
	}
}
