package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/envflag/envflagtest"
	"github.com/inferflow/inferflow/pkg/payloadcrypt"
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
	envflagtest.CheckREADME(t, "../../README.md", "devserver", 4, o.register)
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
	err := runAll(context.Background(), [][]string{{"sleep", "30"}, {"false"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "false") {
		t.Fatalf("runAll = %v, want the failing command named", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("runAll took %v: the sleeping command was not stopped", time.Since(start))
	}
}

// make run: the commands get a generated key file, unless keys are
// configured; the file is made once and kept.
func TestDevPayloadKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".inferflow", "dev-keys")
	now := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	for _, set := range []envflag.Map{{"INFERFLOW_PAYLOAD_KEYS_FILE": "/etc/keys"}, {"INFERFLOW_PAYLOAD_KEYS": "k:x"}} {
		if env, err := devPayloadKeys(set, path, now); err != nil || env != nil {
			t.Fatalf("configured keys %v: env %v, %v", set, env, err)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key file was made although keys are configured: %v", err)
	}
	env, err := devPayloadKeys(envflag.Map{}, path, now)
	if err != nil || !slices.Equal(env, []string{"INFERFLOW_PAYLOAD_KEYS_FILE=" + path}) {
		t.Fatalf("env %v, %v", env, err)
	}
	keys, err := payloadcrypt.LoadFile(path)
	if err != nil || keys.Active() == "" {
		t.Fatalf("generated keys %v, %v", keys, err)
	}
	again, err := devPayloadKeys(envflag.Map{}, path, now.Add(time.Hour))
	if err != nil || !slices.Equal(again, env) {
		t.Fatalf("second run: %v, %v", again, err)
	}
	if k2, _ := payloadcrypt.LoadFile(path); k2.Active() != keys.Active() {
		t.Fatal("the key file was replaced")
	}
	// The commands see the variable.
	err = runAll(context.Background(), [][]string{{"sh", "-c", `test -n "$INFERFLOW_PAYLOAD_KEYS_FILE"`}}, env)
	if err == nil || !strings.HasSuffix(err.Error(), "sh exited") {
		t.Fatalf("the command did not get the key file: %v", err)
	}
}
