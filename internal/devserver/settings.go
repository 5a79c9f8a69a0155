// Package devserver starts `temporal server start-dev` configured by the
// project's temporal-dev.yaml, for `make run` and for integration tests
// (which move it to free ports and a throwaway database).
package devserver

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Settings is one environment of a Temporal CLI env file.
type Settings struct {
	// Flags are the keys the CLI itself reads (address, port, ...).
	Flags map[string]string
	// Multi-valued server flags, kept under x- keys because the CLI reads
	// only one value per flag from an env file.
	SearchAttributes []string
	SqlitePragmas    []string
	DynamicConfig    []string
}

// Load reads environment env of the env file at path.
func Load(path, env string) (Settings, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Settings{}, fmt.Errorf("temporal env file: %w", err)
	}
	var doc struct {
		Env map[string]map[string]string `yaml:"env"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return Settings{}, fmt.Errorf("temporal env file %s: %w", path, err)
	}
	vals, ok := doc.Env[env]
	if !ok {
		return Settings{}, fmt.Errorf("temporal env file %s has no environment %q", path, env)
	}
	s := Settings{Flags: map[string]string{}}
	for k, v := range vals {
		switch k {
		case "x-search-attributes":
			s.SearchAttributes = strings.Fields(v)
		case "x-sqlite-pragmas":
			s.SqlitePragmas = strings.Fields(v)
		case "x-dynamic-config":
			s.DynamicConfig = strings.Fields(v)
		default:
			s.Flags[k] = v
		}
	}
	for _, sa := range s.SearchAttributes {
		if name, typ, ok := strings.Cut(sa, "="); !ok || name == "" || typ == "" {
			return Settings{}, fmt.Errorf("temporal env file %s: search attribute %q: want Name=Type", path, sa)
		}
	}
	return s, nil
}

// ServerArgs are the CLI arguments for start-dev beyond the env file: the
// multi-valued flags, then overrides (flag name → value) which win over the
// file because the CLI skips file values for flags given on the command line.
func (s Settings) ServerArgs(overrides map[string]string) []string {
	args := []string{"server", "start-dev"}
	for _, sa := range s.SearchAttributes {
		args = append(args, "--search-attribute", sa)
	}
	for _, p := range s.SqlitePragmas {
		args = append(args, "--sqlite-pragma", p)
	}
	for _, d := range s.DynamicConfig {
		args = append(args, "--dynamic-config-value", d)
	}
	for _, k := range slices.Sorted(maps.Keys(overrides)) {
		args = append(args, "--"+k, overrides[k])
	}
	return args
}
