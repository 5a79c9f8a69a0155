package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/envflag/envflagtest"
)

// Every flag and variable of every starter command has a row in the
// README's Configuration tables, and every row said to be the starter's is
// declared by one of its commands.
func TestREADMEListsEverySetting(t *testing.T) {
	envflagtest.Isolate(t)
	seen := map[string]bool{}
	var declared []envflag.Setting
	for _, cmd := range [][]string{
		{"consensus"}, {"inference"}, {"batch"},
		{"ledger", "credit"}, {"ledger", "balance"}, {"ledger", "holds"}, {"ledger", "dlq"}, {"ledger", "audit"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append(cmd, "-h"), &out, &errOut); code != 0 {
			t.Fatalf("%v -h: exit %d: %s", cmd, code, errOut.String())
		}
		for _, st := range envflagtest.Usage(errOut.String()) {
			if key := st.Flag + "|" + st.Env; !seen[key] {
				seen[key] = true
				declared = append(declared, st)
			}
		}
	}
	if len(declared) < 30 {
		t.Fatalf("parsed only %d settings from -h", len(declared))
	}
	rows, err := envflagtest.ReadTables("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range envflagtest.Compare(rows, "starter", declared) {
		t.Error(p)
	}
}
