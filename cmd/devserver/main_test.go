package main

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/envflag/envflagtest"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		env     envflag.Map
		args    []string
		want    options
		command []string
		err     string
	}{
		{name: "defaults", want: options{envFile: "temporal-dev.yaml", env: "dev"}},
		{name: "TEMPORAL_CLI is left to FindCLI", env: envflag.Map{"TEMPORAL_CLI": "/x/temporal"},
			want: options{envFile: "temporal-dev.yaml", env: "dev"}},
		{name: "make run", args: []string{"-cli", "/t/temporal", "--", "bin/worker", "-h"},
			want: options{envFile: "temporal-dev.yaml", env: "dev", cli: "/t/temporal"}, command: []string{"bin/worker", "-h"}},
		{name: "empty env file", args: []string{"--env-file", ""}, err: "--env-file: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := envflag.NewWithEnv("devserver", tt.env)
			s.SetOutput(new(bytes.Buffer))
			var got options
			got.register(s)
			err := s.Parse(tt.args)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want || !slices.Equal(s.Args(), tt.command) {
				t.Fatalf("got %+v %v, %v; want %+v %v", got, s.Args(), err, tt.want, tt.command)
			}
		})
	}
}

func TestREADMEListsEverySetting(t *testing.T) {
	var o options
	envflagtest.CheckREADME(t, "../../README.md", "devserver", 3, o.register)
}

func TestSplitCommands(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want [][]string
	}{
		{nil, nil},
		{[]string{"bin/worker"}, [][]string{{"bin/worker"}}},
		{[]string{"bin/worker", "-x", "--", "bin/realtime"}, [][]string{{"bin/worker", "-x"}, {"bin/realtime"}}},
		{[]string{"--", "a", "--", "--", "b", "--"}, [][]string{{"a"}, {"b"}}},
	} {
		if got := splitCommands(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitCommands(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRunAllStopsTheOthersWhenOneExits(t *testing.T) {
	start := time.Now()
	err := runAll(context.Background(), [][]string{{"sleep", "30"}, {"false"}})
	if err == nil || !strings.Contains(err.Error(), "false") {
		t.Fatalf("runAll = %v, want the failing command named", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("runAll took %v: the sleeping command was not stopped", time.Since(start))
	}
}
