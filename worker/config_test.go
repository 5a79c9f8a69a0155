package main

import (
	"strings"
	"testing"

	"github.com/inferflow/inferflow/internal/envflag/envflagtest"
)

func TestParseConfigNamesTheBadSetting(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // "" = valid
	}{
		{name: "defaults are valid"},
		{name: "bad address", args: []string{"--address", "nohostport"}, want: "TEMPORAL_ADDRESS"},
		{name: "unknown provider", env: map[string]string{"INFERFLOW_PROVIDER": "magic"}, want: "INFERFLOW_PROVIDER"},
		{name: "openai without base url", args: []string{"--provider", "openai", "--vision-model", "m"}, want: "INFERFLOW_OPENAI_BASE_URL"},
		{name: "bad log mode", args: []string{"--log-mode", "xml"}, want: "INFERFLOW_LOG_MODE"},
		{name: "bad sweep interval", env: map[string]string{"INFERFLOW_SWEEP_EVERY": "soon"}, want: "INFERFLOW_SWEEP_EVERY"},
		{name: "tls cert without key", args: []string{"--tls-cert-path", "c.pem"}, want: "--tls-key-path (TEMPORAL_TLS_CLIENT_KEY_PATH)"},
		{name: "deprecated tls name still read", env: map[string]string{"TEMPORAL_TLS_CERT": "c.pem"}, want: "--tls-key-path (TEMPORAL_TLS_CLIENT_KEY_PATH)"},
		{name: "empty ledger", args: []string{"--ledger-dsn", " "}, want: "--ledger-dsn (INFERFLOW_LEDGER_DSN)"},
		{name: "bad log level", env: map[string]string{"INFERFLOW_LOG_LEVEL": "loud"}, want: `--log-level (INFERFLOW_LOG_LEVEL) "loud": want debug, info, warn or error`},
		{name: "bad metrics address", args: []string{"--metrics-addr", "9090"}, want: "--metrics-addr (INFERFLOW_METRICS_ADDR)"},
		{name: "metrics disabled", args: []string{"--metrics-addr", ""}},
		{name: "bad fault count", env: map[string]string{"INFERFLOW_FAULT_CAPTURE_FAILURES": "two"}, want: "--fault-capture-failures (INFERFLOW_FAULT_CAPTURE_FAILURES)"},
		{name: "negative fault count", args: []string{"--fault-release-failures=-1"}, want: "--fault-release-failures (INFERFLOW_FAULT_RELEASE_FAILURES)"},
		{name: "bad catalog", args: []string{"--models", "llava:1"}, want: "--models (INFERFLOW_MODELS)"},
		{name: "sweep too often", args: []string{"--sweep-every", "10ms"}, want: "must be at least 1s"},
		{name: "bad provider timeout", env: map[string]string{"INFERFLOW_PROVIDER_HTTP_TIMEOUT": "2"}, want: "INFERFLOW_PROVIDER_HTTP_TIMEOUT"},
		{name: "empty environment label", args: []string{"--environment", ""}, want: "--environment (APP_ENV)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			envflagtest.Isolate(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := parseConfig(tt.args)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name %s", err, tt.want)
			}
		})
	}
}

// Every flag and variable the worker declares has a row in the README's
// Configuration table, and every row said to be the worker's is declared.
func TestREADMEListsEverySetting(t *testing.T) {
	var c config
	envflagtest.CheckREADME(t, "../README.md", "worker", 20, c.register)
}
