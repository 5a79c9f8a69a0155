package main

import (
	"strings"
	"testing"
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
		{name: "tls cert without key", args: []string{"--tls-cert-path", "c.pem"}, want: "TEMPORAL_TLS_KEY"},
		{name: "empty ledger", args: []string{"--ledger-dsn", " "}, want: "INFERFLOW_LEDGER_DSN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
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

func TestRedactDSN(t *testing.T) {
	if got := redactDSN("postgres://u:secret@h/db"); strings.Contains(got, "secret") {
		t.Fatalf("password logged: %s", got)
	}
	if got := redactDSN(".data/ledger.db"); got != ".data/ledger.db" {
		t.Fatalf("path changed: %s", got)
	}
}
