package temporalversion

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const cliGoMod = `module github.com/temporalio/cli

go 1.24.0

require github.com/single/line v1.0.0

require (
	github.com/temporalio/ui-server/v2 v2.42.1
	go.temporal.io/api v1.53.0
	go.temporal.io/server v1.29.1 // the server
)

require (
	go.temporal.io/server/extra v0.1.0 // indirect
)
`

func TestRequired(t *testing.T) {
	tests := []struct {
		name, gomod, module, want, err string
	}{
		{"in a block", cliGoMod, ServerModule, "v1.29.1", ""},
		{"ui", cliGoMod, UIModule, "v2.42.1", ""},
		{"single line", cliGoMod, "github.com/single/line", "v1.0.0", ""},
		{"prefix is not the module", "require go.temporal.io/server/extra v0.1.0\n", ServerModule, "", "not required"},
		{"absent", "module x\n", ServerModule, "", "not required"},
		{"commented out", "require (\n// go.temporal.io/server v1.0.0\n)\n", ServerModule, "", "not required"},
		{"replaced", cliGoMod + "replace go.temporal.io/server => ../server\n", ServerModule, "", "replaces go.temporal.io/server"},
		{"replaced in a block", cliGoMod + "replace (\n\tgo.temporal.io/server v1.29.1 => example.com/fork v1.0.0\n)\n", ServerModule, "", "replaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Required([]byte(tt.gomod), tt.module)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := Required(nil, ServerModule); !errors.Is(err, ErrNotRequired) {
		t.Fatalf("err = %v, want ErrNotRequired", err)
	}
}

// The real CLI release the Makefile builds (TEMPORAL_VERSION) names a
// server; needs the module in the cache or the proxy.
func TestEmbeddedFromModuleCache(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go mod download")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool")
	}
	v, err := Embedded(context.Background(), "go", "v1.5.1", ServerModule)
	if err != nil {
		t.Skip("module cache and proxy unavailable:", err)
	}
	if v != "v1.29.1" {
		t.Fatalf("temporal CLI v1.5.1 embeds server %s, want v1.29.1", v)
	}
}

func TestMakefileCLIVersion(t *testing.T) {
	v, err := MakefileCLIVersion(filepath.Join("..", "..", "Makefile"))
	if err != nil || !strings.HasPrefix(v, "v") {
		t.Fatalf("project Makefile: %q, %v", v, err)
	}
	p := filepath.Join(t.TempDir(), "Makefile")
	for body, want := range map[string]string{
		"X := 1\nTEMPORAL_VERSION := v9.8.7\n": "v9.8.7",
		"TEMPORAL_VERSION :=\n":                "",
		"# no version\n":                       "",
	} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := MakefileCLIVersion(p)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("%q: got %q, %v; want %q", body, got, err, want)
		}
	}
}
