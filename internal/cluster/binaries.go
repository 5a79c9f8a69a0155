package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/inferflow/inferflow/internal/temporalversion"
)

// Binaries are what `make temporal-server` builds into .tools/bin, named
// by the server version so several versions can sit side by side.
type Binaries struct {
	Version   string // go.temporal.io/server version, e.g. v1.29.1
	Server    string // temporal-server-<version>
	SQLTool   string // temporal-sql-tool-<version>
	SchemaDir string // the server's schema/ tree: postgresql/v12/{temporal,visibility}
}

// BinariesIn names the binaries of server version in toolsDir.
func BinariesIn(toolsDir, version string) Binaries {
	return Binaries{
		Version:   version,
		Server:    filepath.Join(toolsDir, "temporal-server-"+version),
		SQLTool:   filepath.Join(toolsDir, "temporal-sql-tool-"+version),
		SchemaDir: filepath.Join(toolsDir, "temporal-server-"+version+"-schema"),
	}
}

// Locate finds the binaries of the server version that the Temporal CLI
// cliVersion embeds, in toolsDir; a NotBuiltError says to build them.
// It runs `go mod download` (goBin; "go" when empty) to read the CLI's
// go.mod.
func Locate(ctx context.Context, goBin, toolsDir, cliVersion string) (Binaries, error) {
	v, err := temporalversion.Embedded(ctx, goBin, cliVersion, temporalversion.ServerModule)
	if err != nil {
		return Binaries{}, fmt.Errorf("which server the temporal CLI %s embeds: %w", cliVersion, err)
	}
	b := BinariesIn(toolsDir, v)
	return b, b.Check()
}

// Check fails with a NotBuiltError naming the first thing missing.
func (b Binaries) Check() error {
	for _, f := range []struct{ what, path string }{
		{"temporal-server", b.Server},
		{"temporal-sql-tool", b.SQLTool},
		{"the server's PostgreSQL schema", b.schemaPath("temporal")},
		{"the server's PostgreSQL visibility schema", b.schemaPath("visibility")},
	} {
		if _, err := os.Stat(f.path); err != nil {
			return &NotBuiltError{What: f.what, Path: f.path}
		}
	}
	return nil
}

// schemaPath is the versioned schema folder of store (temporal, visibility).
func (b Binaries) schemaPath(store string) string {
	return filepath.Join(b.SchemaDir, "postgresql", "v12", store, "versioned")
}
