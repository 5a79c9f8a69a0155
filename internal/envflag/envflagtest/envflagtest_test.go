package envflagtest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/inferflow/inferflow/internal/envflag"
)

const readme = "# x\n\n## Configuration\n\n" +
	"| flag | environment | default | used by |\n|---|---|---|---|\n" +
	"| `--address` | `T_ADDR` (deprecated: `T_OLD`) | `h:1` | a, b cmd |\n" +
	"| (env only) | `T_KEY`, `T_FILE` | none | a |\n" +
	"| `--only-b` | `T_B` | `x` | b |\n\n" +
	"| flag | default | used by |\n|---|---|---|\n" +
	"| `--item`, `--wait` | required | b cmd |\n\n" +
	"## Next\n\n| flag | environment | default | used by |\n|---|---|---|---|\n| `--ignored` | | | a |\n"

func TestCompare(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(path, []byte(readme), 0o600); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadTables(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("rows = %+v", rows)
	}
	addr := envflag.Setting{Flag: "address", Env: "T_ADDR", Default: "h:1", Deprecated: []string{"T_OLD"}}
	tests := []struct {
		name     string
		binary   string
		declared []envflag.Setting
		want     []string // substrings, one per problem
	}{
		{"a matches", "a", []envflag.Setting{addr, {Env: "T_KEY"}, {Env: "T_FILE"}}, nil},
		{"b matches", "b", []envflag.Setting{addr, {Flag: "only-b", Env: "T_B", Default: "x"}, {Flag: "item"}, {Flag: "wait"}}, nil},
		{"missing row", "a", []envflag.Setting{addr, {Env: "T_KEY"}, {Env: "T_FILE"}, {Flag: "new", Env: "T_NEW"}},
			[]string{"--new (T_NEW) has no row"}},
		{"stale rows", "a", []envflag.Setting{addr}, []string{"T_KEY is not a variable of a", "T_FILE is not a variable of a"}},
		{"other default", "a", []envflag.Setting{{Flag: "address", Env: "T_ADDR", Default: "h:2", Deprecated: []string{"T_OLD"}}, {Env: "T_KEY"}, {Env: "T_FILE"}},
			[]string{"default should show `h:2`"}},
		{"deprecated name dropped", "a", []envflag.Setting{{Flag: "address", Env: "T_ADDR", Default: "h:1"}, {Env: "T_KEY"}, {Env: "T_FILE"}},
			[]string{"lists variables [T_ADDR T_OLD]", "T_OLD is not a variable of a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compare(rows, tt.binary, tt.declared)
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %q, want %d", got, len(tt.want))
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, w) }) {
					t.Errorf("no problem mentions %q: %q", w, got)
				}
			}
		})
	}
}

func TestUsageRoundTrip(t *testing.T) {
	s := envflag.NewWithEnv("x", nil)
	var help strings.Builder
	s.SetOutput(&help)
	var a, k, plain string
	envflag.Var(s, &a, envflag.Spec[string]{Flag: "address", Env: "T_ADDR", Deprecated: []string{"T_OLD"}, Default: `h:"1"`, Help: "where"})
	envflag.Var(s, &k, envflag.Spec[string]{Env: "T_KEY", Secret: true, Help: "key"})
	s.StringVar(&plain, "item", "", "the item")
	_ = s.Parse([]string{"-h"})
	got := Usage(help.String())
	want := []envflag.Setting{
		{Flag: "address", Env: "T_ADDR", Deprecated: []string{"T_OLD"}, Default: `h:"1"`, Help: "where"},
		{Flag: "item", Help: "the item"},
		{Env: "T_KEY", Help: "key"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v from\n%s", got, help.String())
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Flag != w.Flag || g.Env != w.Env || g.Default != w.Default || g.Help != w.Help || !slices.Equal(g.Deprecated, w.Deprecated) {
			t.Errorf("setting %d = %+v, want %+v", i, g, w)
		}
	}
}
