package ledger

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Migrations are numbered SQL files per backend (schema/<backend>/NNNN_name.sql),
// applied in order inside one transaction and recorded in schema_migrations,
// so Open is idempotent and a half-applied upgrade never commits.
//
//go:embed schema
var schemaFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(backend string) ([]migration, error) {
	dir := "schema/" + backend
	ents, err := fs.ReadDir(schemaFS, dir)
	if err != nil {
		return nil, fmt.Errorf("ledger: migrations: %w", err)
	}
	var out []migration
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("ledger: migration %s/%s: name must start with a positive number and '_'", dir, name)
		}
		b, err := fs.ReadFile(schemaFS, dir+"/"+name)
		if err != nil {
			return nil, fmt.Errorf("ledger: migration %s: %w", name, err)
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("ledger: migrations %s and %s share version %d", out[i-1].name, out[i].name, out[i].version)
		}
	}
	return out, nil
}
