// Package temporalversion finds which versions of the Temporal server and
// Web UI a release of the Temporal CLI embeds, by reading the CLI's go.mod
// from the Go module cache, so `make temporal-server` and `make cluster` run
// the same server the dev server (`temporal server start-dev`) runs.
package temporalversion

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// The modules the CLI embeds.
const (
	CLIModule    = "github.com/temporalio/cli"
	ServerModule = "go.temporal.io/server"
	UIModule     = "github.com/temporalio/ui-server/v2"
)

// ErrNotRequired means the go.mod does not require the module.
var ErrNotRequired = errors.New("module not required")

// Required returns the version of module that the go.mod text gomod
// requires. A replace directive for module is an error: the version built
// from the proxy would not be the code the CLI embeds.
func Required(gomod []byte, module string) (string, error) {
	var version string
	block := ""
	for n, line := range strings.Split(string(gomod), "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if block != "" {
			if f[0] == ")" {
				block = ""
				continue
			}
			f = append([]string{block}, f...)
		} else if len(f) == 2 && f[1] == "(" {
			block = f[0]
			continue
		}
		switch f[0] {
		case "require":
			if len(f) >= 3 && f[1] == module {
				version = f[2]
			}
		case "replace":
			if len(f) >= 2 && f[1] == module {
				return "", fmt.Errorf("go.mod line %d replaces %s; its version cannot be taken from the proxy", n+1, module)
			}
		}
	}
	if version == "" {
		return "", fmt.Errorf("%s: %w", module, ErrNotRequired)
	}
	return version, nil
}

// Download fetches module@version into the module cache (a no-op when it is
// there) with `go mod download -json` and returns its go.mod path and
// source folder.
func Download(ctx context.Context, goBin, module, version string) (goMod, dir string, err error) {
	if goBin == "" {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", module+"@"+version)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Outside any module, so the project's go.mod plays no part.
	cmd.Dir = os.TempDir()
	out, err := cmd.Output()
	var info struct{ GoMod, Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", "", fmt.Errorf("go mod download %s@%s: %s", module, version, info.Error)
	}
	if err != nil {
		return "", "", fmt.Errorf("go mod download %s@%s: %w: %s", module, version, err, strings.TrimSpace(stderr.String()))
	}
	if info.GoMod == "" {
		return "", "", fmt.Errorf("go mod download %s@%s: no go.mod in its answer", module, version)
	}
	return info.GoMod, info.Dir, nil
}

// Embedded returns the version of module (ServerModule, UIModule) that the
// Temporal CLI at cliVersion requires.
func Embedded(ctx context.Context, goBin, cliVersion, module string) (string, error) {
	goMod, _, err := Download(ctx, goBin, CLIModule, cliVersion)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(goMod)
	if err != nil {
		return "", err
	}
	v, err := Required(data, module)
	if err != nil {
		return "", fmt.Errorf("temporal CLI %s: %w", cliVersion, err)
	}
	return v, nil
}

// MakefileCLIVersion reads the Temporal CLI version the project builds
// (`TEMPORAL_VERSION := v1.5.1` in its Makefile), so tests and tools that
// are not started by make agree with `make temporal`.
func MakefileCLIVersion(makefile string) (string, error) {
	data, err := os.ReadFile(makefile)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":=")
		if ok && strings.TrimSpace(name) == "TEMPORAL_VERSION" {
			if v := strings.TrimSpace(value); v != "" {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("%s sets no TEMPORAL_VERSION", makefile)
}
