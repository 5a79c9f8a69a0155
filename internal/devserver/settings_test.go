package devserver

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/inferflow/inferflow/internal/payloadkeys"
)

func writeEnvFile(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "env.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSplitsCLIKeysFromMultiValued(t *testing.T) {
	p := writeEnvFile(t, `
env:
  dev:
    address: 127.0.0.1:7233
    port: "7233"
    x-search-attributes: A=Keyword B=Keyword
    x-sqlite-pragmas: journal_mode=wal
    x-dynamic-config: k1=true k2=1
`)
	s, err := Load(p, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if s.Flags["address"] != "127.0.0.1:7233" || s.Flags["port"] != "7233" || len(s.Flags) != 2 {
		t.Fatalf("flags = %v", s.Flags)
	}
	args := s.ServerArgs(map[string]string{"port": "9999", "db-filename": ""})
	want := []string{"server", "start-dev", "--search-attribute", "A=Keyword", "--search-attribute", "B=Keyword",
		"--sqlite-pragma", "journal_mode=wal", "--dynamic-config-value", "k1=true", "--dynamic-config-value", "k2=1",
		"--db-filename", "", "--port", "9999"}
	if !slices.Equal(args, want) {
		t.Fatalf("args = %q\nwant   %q", args, want)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, body, env, want string }{
		{"missing environment", "env:\n  prod:\n    address: x:1\n", "dev", `no environment "dev"`},
		{"bad search attribute", "env:\n  dev:\n    x-search-attributes: NoType\n", "dev", "want Name=Type"},
		{"not yaml", "env: [unclosed", "dev", "temporal env file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeEnvFile(t, tt.body), tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "absent.yaml"), "dev"); err == nil {
		t.Fatal("a missing file must fail")
	}
}

// The project's own env file loads and lists every search attribute the
// workflows use.
func TestProjectEnvFile(t *testing.T) {
	s, err := Load(filepath.Join("..", "..", "temporal-dev.yaml"), "dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ItemId", "ConsensusOutcome", "JobId", "BillingState"} {
		if !slices.Contains(s.SearchAttributes, name+"=Keyword") {
			t.Errorf("temporal-dev.yaml lacks search attribute %s", name)
		}
	}
	if s.Flags["address"] == "" || s.Flags["namespace"] == "" || s.Flags["ui-port"] == "" {
		t.Errorf("flags = %v", s.Flags)
	}
	// The Web UI and the CLI decode through the worker's codec server.
	codec := "http://" + payloadkeys.Settings.CodecAddr.Default
	if s.Flags["ui-codec-endpoint"] != codec || s.Flags["codec-endpoint"] != codec {
		t.Errorf("codec endpoints %q, %q; want the worker's %s", s.Flags["ui-codec-endpoint"], s.Flags["codec-endpoint"], codec)
	}
}
