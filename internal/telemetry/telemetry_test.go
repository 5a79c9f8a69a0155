package telemetry

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/inferflow/inferflow/gate/gateprom"
	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/tracing"
)

var tracingOff = tracing.Config{Protocol: tracing.ProtocolHTTP}

func TestRegister(t *testing.T) {
	tests := []struct {
		name string
		env  envflag.Map
		args []string
		want Config
		err  string // "" = valid
	}{
		{name: "defaults", want: Config{LogMode: "dev", LogLevel: "info", Environment: "development", MetricsAddr: "127.0.0.1:9090", Tracing: tracingOff}},
		{name: "environment", env: envflag.Map{"INFERFLOW_LOG_MODE": "prod", "INFERFLOW_LOG_LEVEL": "DEBUG", "APP_ENV": "staging", "INFERFLOW_METRICS_ADDR": ":0"},
			want: Config{LogMode: "prod", LogLevel: "DEBUG", Environment: "staging", MetricsAddr: ":0", Tracing: tracingOff}},
		{name: "flags over environment", env: envflag.Map{"INFERFLOW_LOG_MODE": "prod", "APP_ENV": "staging"},
			args: []string{"--log-mode", "dev", "--environment", "ci", "--metrics-addr", ""},
			want: Config{LogMode: "dev", LogLevel: "info", Environment: "ci", Tracing: tracingOff}},
		{name: "tracing", env: envflag.Map{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			want: Config{LogMode: "dev", LogLevel: "info", Environment: "development", MetricsAddr: "127.0.0.1:9090",
				Tracing: tracing.Config{Endpoint: "http://127.0.0.1:4317", Protocol: "grpc"}}},
		{name: "bad OTLP endpoint", env: envflag.Map{"OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4317"},
			err: `OTEL_EXPORTER_OTLP_ENDPOINT "127.0.0.1:4317": want an http:// or https:// URL`},
		{name: "bad OTLP protocol", env: envflag.Map{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
			err: `OTEL_EXPORTER_OTLP_PROTOCOL "http/json": want http/protobuf or grpc`},
		{name: "bad log mode", args: []string{"--log-mode", "xml"}, err: `--log-mode (INFERFLOW_LOG_MODE) "xml": want dev or prod`},
		{name: "bad log level", env: envflag.Map{"INFERFLOW_LOG_LEVEL": "loud"}, err: `--log-level (INFERFLOW_LOG_LEVEL) "loud": want debug, info, warn or error`},
		{name: "bad metrics address", env: envflag.Map{"INFERFLOW_METRICS_ADDR": "9090"}, err: `--metrics-addr (INFERFLOW_METRICS_ADDR) "9090": want host:port`},
		{name: "blank environment label", args: []string{"--environment", " "}, err: "--environment (APP_ENV): must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := envflag.NewWithEnv("x", tt.env)
			s.SetOutput(io.Discard)
			var got Config
			got.Register(s)
			err := s.Parse(tt.args)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestStartServesMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := Config{LogMode: "prod", LogLevel: "error", Environment: "test", MetricsAddr: "127.0.0.1:0"}
	z, mh, err := c.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = z.Sync() }()
	mh.Counter("telemetry.test").Inc(1)
	// Start does not report the bound port; a disabled endpoint must not fail.
	c.MetricsAddr = ""
	if _, _, err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c.MetricsAddr = "256.0.0.1:1"
	if _, _, err := c.Start(ctx); err == nil {
		t.Fatal("want an error for an address that cannot be bound")
	}
}

// The binary's own collectors (the realtime process's gate metrics) and the
// SDK handler's metrics are served from the one /metrics endpoint.
func TestStartServesCollectorsBesideTheHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := Config{LogMode: "prod", LogLevel: "error", Environment: "test", MetricsAddr: addr}
	_, mh, err := c.Start(ctx, gateprom.NewCollector("inferflow"))
	if err != nil {
		t.Fatal(err)
	}
	mh.WithTags(map[string]string{"errorCode": "TIMEOUT"}).Timer("model.call.duration_ms").Record(time.Second)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"inferflow_speech_gate_live_gates 0",
		`model_call_duration_seconds_count{environment="test",errorCode="TIMEOUT"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
