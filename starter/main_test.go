package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Usage errors are caught before any connection is made.
func TestRunUsageErrors(t *testing.T) {
	notImage := filepath.Join(t.TempDir(), "x.txt")
	if err := os.WriteFile(notImage, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "usage"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"consensus", "--item", "a"}, exitUsage, "--image are required"},
		{[]string{"consensus", "--item", "a", "--image", "/no/such/file.png"}, exitUsage, "no such file"},
		{[]string{"consensus", "--item", "a", "--image", notImage, "--address", "bad"}, exitUsage, "TEMPORAL_ADDRESS"},
		{[]string{"inference", "--user", "u"}, exitUsage, "--prompt-tokens are required"},
		{[]string{"ledger"}, exitUsage, "subcommand is required"},
		{[]string{"ledger", "credit", "--user", "u", "--amount", "0", "--ledger-dsn", filepath.Join(t.TempDir(), "l.db")}, exitUsage, "--amount must be > 0"},
		{[]string{"ledger", "balance"}, exitUsage, "--user is required"},
		{[]string{"consensus", "--bogus"}, exitUsage, "flag provided but not defined"},
		{[]string{"help"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errOut)
			if code != tt.code || !strings.Contains(errOut.String()+out.String(), tt.want) {
				t.Fatalf("exit %d (want %d), output %q", code, tt.code, errOut.String()+out.String())
			}
		})
	}
}

// The ledger commands work against a real ledger file.
func TestLedgerCommands(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "l.db")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"ledger", "credit", "--user", "zoe", "--amount", "1500", "--key", "k1", "--ledger-dsn", dsn}, &out, &errOut); code != 0 {
		t.Fatalf("credit: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), `"available": 1500`) {
		t.Fatalf("credit output: %s", out.String())
	}
	out.Reset()
	// Same key again: idempotent, still 1500.
	run(context.Background(), []string{"ledger", "credit", "--user", "zoe", "--amount", "1500", "--key", "k1", "--ledger-dsn", dsn}, &out, &errOut)
	if !strings.Contains(out.String(), `"available": 1500`) {
		t.Fatalf("replayed credit output: %s", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"ledger", "audit", "--ledger-dsn", dsn}, &out, &errOut); code != 0 {
		t.Fatalf("audit: exit %d: %s %s", code, out.String(), errOut.String())
	}
}

// A listing with no rows prints [], never null.
func TestLedgerListingsOfNothing(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "l.db")
	for _, args := range [][]string{
		{"ledger", "holds", "--user", "nobody", "--ledger-dsn", dsn},
		{"ledger", "dlq", "--ledger-dsn", dsn},
		{"ledger", "dlq", "--status", "open", "--ledger-dsn", dsn},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
		}
		if got := strings.TrimSpace(out.String()); got != "[]" {
			t.Errorf("%v printed %q, want []", args, got)
		}
	}
}
