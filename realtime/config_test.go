package main

import (
	"os"
	"strings"
	"testing"

	"github.com/inferflow/inferflow/internal/envflag/envflagtest"
	"github.com/inferflow/inferflow/workflows"
)

func TestREADMEListsEverySetting(t *testing.T) {
	var c config
	envflagtest.CheckREADME(t, "../README.md", "realtime", 20, c.register)
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--listen", "8088"}, "--listen (INFERFLOW_REALTIME_ADDR)"},
		{map[string]string{"INFERFLOW_REALTIME_TOKENS": "short:bob"}, nil, "INFERFLOW_REALTIME_TOKENS"},
		{map[string]string{"INFERFLOW_REALTIME_TOKENS": "long-enough-token"}, nil, "token:user"},
		{map[string]string{"INFERFLOW_REALTIME_TOKENS": "long-enough-token:a\x01b"}, nil, "INFERFLOW_REALTIME_TOKENS"},
		{nil, []string{"--udp-ports", "9000-8000"}, "--udp-ports (INFERFLOW_REALTIME_UDP_PORTS)"},
		{nil, []string{"--udp-ports", "9000-9100", "--udp-mux", ":8443"}, "--udp-mux"},
		{nil, []string{"--max-sessions", "0"}, "--max-sessions (INFERFLOW_REALTIME_MAX_SESSIONS)"},
		{nil, []string{"--jitter-delay", "2s"}, "--jitter-delay"},
		{nil, []string{"--max-offer-bytes", "100"}, "--max-offer-bytes (INFERFLOW_REALTIME_MAX_OFFER_BYTES)"},
		{nil, []string{"--max-offer-bytes", "2000000"}, "--max-offer-bytes"},
		{nil, []string{"--request-burst", "0"}, "--request-burst (INFERFLOW_REALTIME_REQUEST_BURST)"},
		{map[string]string{"INFERFLOW_REALTIME_REQUESTS_PER_MINUTE": "0"}, nil, "--requests-per-minute (INFERFLOW_REALTIME_REQUESTS_PER_MINUTE)"},
		{map[string]string{"INFERFLOW_REALTIME_UPSTREAM": "websocket"}, nil, "--model-url (INFERFLOW_REALTIME_MODEL_URL)"},
		{nil, []string{"--model-url", "https://api.example.com/v1/realtime"}, "--model-url"},
		{nil, []string{"--upstream", "grpc"}, "--upstream (INFERFLOW_REALTIME_UPSTREAM)"},
		{nil, []string{"--owner-lease", "500ms"}, "--owner-lease (INFERFLOW_REALTIME_OWNER_LEASE)"},
		{map[string]string{"INFERFLOW_REALTIME_OWNER_LEASE": "2h"}, nil, "--owner-lease"},
		{nil, []string{"--instance-id", "rt\x01"}, "--instance-id (INFERFLOW_REALTIME_INSTANCE_ID)"},
	} {
		envflagtest.Isolate(t)
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		_, err := parseConfig(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v args %v: err = %v, want it to name %s", tc.env, tc.args, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "long-enough-token") {
			t.Errorf("error %q shows a token", err)
		}
	}
}

func TestDefaultsGiveAWorkingConfig(t *testing.T) {
	envflagtest.Isolate(t)
	c, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.rtcConfig()
	if err != nil {
		t.Fatal(err)
	}
	if rc.Tokens["inferflow-dev-token"] != "alice" || !rc.IncludeLoopback || rc.MaxSessionsPerToken != 4 ||
		rc.MaxOfferBytes != 64<<10 || rc.RequestBurst != 20 || rc.RequestsPerMinute != 120 {
		t.Errorf("rtc config = %+v", rc)
	}
	// Sessions get an owner by default: the host and the listen port.
	if host, _ := os.Hostname(); c.owner() != host+"-8088" || c.ownerLease != workflows.DefaultVoiceOwnerLease {
		t.Errorf("owner %q, lease %s", c.owner(), c.ownerLease)
	}
}
