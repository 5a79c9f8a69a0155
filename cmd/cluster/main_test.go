package main

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/inferflow/inferflow/internal/cluster"
)

// Without `make temporal-server` the command says to run it, before
// touching PostgreSQL or any port.
func TestRunWithoutServerSaysBuildIt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go mod download")
	}
	o := options{tools: t.TempDir(), cliVersion: "v1.5.1", postgres: "127.0.0.1:5432", workers: 2}
	_, err := run(context.Background(), o, nil)
	var nb *cluster.NotBuiltError
	if !errors.As(err, &nb) {
		if strings.Contains(err.Error(), "go mod download") {
			t.Skip("module cache and proxy unavailable:", err)
		}
		t.Fatalf("err = %v, want NotBuiltError", err)
	}
	if !strings.Contains(err.Error(), "make temporal-server") {
		t.Fatalf("err = %v, want it to say make temporal-server", err)
	}
}

func TestExitCode(t *testing.T) {
	failing := exec.Command("sh", "-c", "exit 7").Run()
	for _, tt := range []struct {
		err  error
		want int
	}{{nil, 0}, {failing, 7}, {errors.New("could not start"), 1}} {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
