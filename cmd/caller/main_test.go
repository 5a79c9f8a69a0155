package main

import (
	"bytes"
	"errors"
	"flag"
	"testing"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/envflag/envflagtest"
)

func TestREADMEListsEverySetting(t *testing.T) {
	envflagtest.Isolate(t)
	var o options
	s := envflag.New("caller")
	var help bytes.Buffer
	s.SetOutput(&help)
	o.register(s)
	if err := s.Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	declared := envflagtest.Usage(help.String())
	if len(declared) != 5 {
		t.Fatalf("parsed %d settings from -h, want 5:\n%s", len(declared), help.String())
	}
	rows, err := envflagtest.ReadTables("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range envflagtest.Compare(rows, "caller", declared) {
		t.Error(p)
	}
}
