// Package envflagtest checks that a binary's settings, as its -h prints
// them, match the README's Configuration tables, so a new flag or variable
// without a row (or a row for a removed one) fails the binary's tests.
package envflagtest

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/inferflow/inferflow/internal/envflag"
)

// Usage parses the output of an envflag.Set's -h into settings.
func Usage(text string) []envflag.Setting {
	var out []envflag.Setting
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "    ") {
			continue
		}
		head := strings.TrimSpace(line)
		var st envflag.Setting
		if name, ok := strings.CutPrefix(head, "--"); ok {
			st.Flag, _, _ = strings.Cut(name, " ")
		} else {
			st.Env, _, _ = strings.Cut(head, " ")
		}
		if m := envNote.FindStringSubmatch(head); m != nil {
			for _, part := range strings.Split(m[1], ", ") {
				if env, ok := strings.CutPrefix(part, "env "); ok {
					st.Env = env
				}
				if dep, ok := strings.CutPrefix(part, "deprecated "); ok {
					st.Deprecated = strings.Fields(dep)
				}
			}
		}
		if i+1 < len(lines) {
			help := strings.TrimSpace(lines[i+1])
			if m := defaultNote.FindStringSubmatch(help); m != nil {
				st.Default, _ = strconv.Unquote(m[1])
				help = strings.TrimSuffix(help, m[0])
			}
			st.Help = strings.TrimSpace(help)
		}
		out = append(out, st)
	}
	return out
}

var (
	envNote     = regexp.MustCompile(`\((env [^)]*|deprecated [^)]*)\)$`)
	defaultNote = regexp.MustCompile(` \(default ("(?:[^"\\]|\\.)*")\)$`)
	backticked  = regexp.MustCompile("`([^`]+)`")
)

// Row is one row of a table in the README's Configuration section.
type Row struct {
	Line     int
	Flags    []string // without dashes
	Envs     []string // the variable, then deprecated names
	Defaults string   // the default cell as written
	UsedBy   []string // binaries: "starter consensus" counts as starter
}

// ReadTables returns the rows of every table under "## Configuration" that
// has a "used by" column.
func ReadTables(readme string) ([]Row, error) {
	f, err := os.Open(readme)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		rows    []Row
		in      bool
		columns map[string]int
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(line) == "## Configuration"
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			columns = nil
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case columns == nil:
			columns = map[string]int{}
			for i, c := range cells {
				columns[strings.ToLower(c)] = i
			}
			continue
		case strings.HasPrefix(cells[0], "---"):
			continue
		}
		if _, ok := columns["used by"]; !ok {
			continue
		}
		cell := func(name string) string {
			if i, ok := columns[name]; ok && i < len(cells) {
				return cells[i]
			}
			return ""
		}
		r := Row{Line: n, Defaults: cell("default")}
		for _, m := range backticked.FindAllStringSubmatch(cell("flag"), -1) {
			r.Flags = append(r.Flags, strings.TrimPrefix(m[1], "--"))
		}
		for _, m := range backticked.FindAllStringSubmatch(cell("environment"), -1) {
			r.Envs = append(r.Envs, m[1])
		}
		for _, b := range strings.Split(cell("used by"), ",") {
			if b = strings.TrimSpace(b); b != "" {
				r.UsedBy = append(r.UsedBy, b)
			}
		}
		rows = append(rows, r)
	}
	return rows, sc.Err()
}

func (r Row) usedBy(binary string) bool {
	return slices.ContainsFunc(r.UsedBy, func(b string) bool { return b == binary || strings.HasPrefix(b, binary+" ") })
}

// Compare returns one message per difference between the settings binary
// declares and the README rows that say they are used by it: a setting
// without a row, a row without a setting, a variable or default that differs.
func Compare(rows []Row, binary string, declared []envflag.Setting) []string {
	var problems []string
	mine := slices.DeleteFunc(slices.Clone(rows), func(r Row) bool { return !r.usedBy(binary) })
	flags, envs := map[string]bool{}, map[string]bool{}
	for _, st := range declared {
		name := "--" + st.Flag
		var row *Row
		for i := range mine {
			if (st.Flag != "" && slices.Contains(mine[i].Flags, st.Flag)) ||
				(st.Flag == "" && len(mine[i].Flags) == 0 && slices.Contains(mine[i].Envs, st.Env)) {
				row = &mine[i]
				break
			}
		}
		if st.Flag == "" {
			name = st.Env
		}
		flags[st.Flag], envs[st.Env] = true, true
		for _, d := range st.Deprecated {
			envs[d] = true
		}
		if row == nil {
			problems = append(problems, fmt.Sprintf("%s (%s) has no row used by %s in the README's Configuration table", name, st.Env, binary))
			continue
		}
		want := slices.DeleteFunc(append([]string{st.Env}, st.Deprecated...), func(s string) bool { return s == "" })
		if !slices.Equal(row.Envs, want) && st.Flag != "" {
			problems = append(problems, fmt.Sprintf("README line %d: %s lists variables %v, %s declares %v", row.Line, name, row.Envs, binary, want))
		}
		if st.Default != "" && !strings.Contains(row.Defaults, "`"+st.Default+"`") {
			problems = append(problems, fmt.Sprintf("README line %d: %s default should show `%s` (for %s), has %q", row.Line, name, st.Default, binary, row.Defaults))
		}
	}
	for _, r := range mine {
		for _, f := range r.Flags {
			if !flags[f] {
				problems = append(problems, fmt.Sprintf("README line %d: --%s is not a flag of %s (stale row?)", r.Line, f, binary))
			}
		}
		for _, e := range r.Envs {
			if !envs[e] {
				problems = append(problems, fmt.Sprintf("README line %d: %s is not a variable of %s (stale row?)", r.Line, e, binary))
			}
		}
	}
	return problems
}

// Isolate clears the project's, Temporal's and OpenTelemetry's variables for the test and
// points TEMPORAL_CONFIG_FILE at a missing file, so neither the developer's
// shell nor ~/.config/temporalio/temporal.toml changes what a test parses.
func Isolate(t testing.TB) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TEMPORAL_") || strings.HasPrefix(k, "INFERFLOW_") || strings.HasPrefix(k, "OTEL_") || k == "APP_ENV" {
			t.Setenv(k, "") // restores the value after the test
			os.Unsetenv(k)
		}
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(t.TempDir(), "absent.toml"))
}

// CheckREADME declares a binary's settings with register on a fresh Set,
// reads them back from its -h, and fails t for every difference with the
// README's rows used by binary. atLeast guards against a -h that parses to
// nothing.
func CheckREADME(t *testing.T, readme, binary string, atLeast int, register func(*envflag.Set)) {
	t.Helper()
	Isolate(t)
	s := envflag.New(binary)
	var help strings.Builder
	s.SetOutput(&help)
	register(s)
	if err := s.Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	declared := Usage(help.String())
	if len(declared) < atLeast {
		t.Fatalf("parsed only %d settings from -h, want at least %d:\n%s", len(declared), atLeast, help.String())
	}
	rows, err := ReadTables(readme)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Compare(rows, binary, declared) {
		t.Error(p)
	}
}
