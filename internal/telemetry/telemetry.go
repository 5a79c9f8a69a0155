// Package telemetry holds the logging, metrics and tracing settings a
// long-running inferflow binary shares (log format and level, the
// environment label, the Prometheus listen address, the OTLP endpoint) and
// builds the logger and metrics handler from them.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/logging"
	"github.com/inferflow/inferflow/internal/metrics"
	"github.com/inferflow/inferflow/internal/tracing"
)

// Settings are the telemetry settings, each declared once.
var Settings = struct {
	LogMode     envflag.Spec[string]
	LogLevel    envflag.Spec[string]
	Environment envflag.Spec[string]
	MetricsAddr envflag.Spec[string]
}{
	LogMode: envflag.Spec[string]{Flag: "log-mode", Env: "INFERFLOW_LOG_MODE", Default: string(logging.Dev),
		Help: "log format: dev (console) or prod (JSON)", Check: envflag.OneOf(string(logging.Dev), string(logging.Prod))},
	LogLevel: envflag.Spec[string]{Flag: "log-level", Env: "INFERFLOW_LOG_LEVEL", Default: "info",
		Help: "debug, info, warn or error", Check: Level},
	Environment: envflag.Spec[string]{Flag: "environment", Env: "APP_ENV", Default: "development",
		Help: "environment label on metrics and logs", Check: envflag.NotBlank},
	MetricsAddr: envflag.Spec[string]{Flag: "metrics-addr", Env: "INFERFLOW_METRICS_ADDR", Default: "127.0.0.1:9090",
		Help: "Prometheus /metrics listen address (empty disables)", Check: envflag.Optional(envflag.HostPort)},
}

// Level accepts what zap accepts as a level, in any case.
func Level(v string) error {
	if _, err := zapcore.ParseLevel(strings.ToLower(v)); err != nil {
		return errors.New("want debug, info, warn or error")
	}
	return nil
}

// Config is how a binary logs, exposes metrics and exports traces.
type Config struct {
	LogMode     string
	LogLevel    string
	Environment string
	MetricsAddr string
	Tracing     tracing.Config
}

// Register adds the telemetry flags to s.
func (c *Config) Register(s *envflag.Set) {
	envflag.Var(s, &c.LogMode, Settings.LogMode)
	envflag.Var(s, &c.LogLevel, Settings.LogLevel)
	envflag.Var(s, &c.Environment, Settings.Environment)
	envflag.Var(s, &c.MetricsAddr, Settings.MetricsAddr)
	c.Tracing.Register(s)
}

// Start builds the logger (labelled with the environment) and the metrics
// handler, and serves /metrics on MetricsAddr until ctx ends, with the
// binary's own collectors beside the SDK's. The caller syncs the logger.
func (c Config) Start(ctx context.Context, collectors ...prometheus.Collector) (*zap.Logger, client.MetricsHandler, error) {
	z, err := logging.New(logging.Mode(c.LogMode), c.LogLevel)
	if err != nil {
		return nil, nil, err
	}
	z = z.With(zap.String("environment", c.Environment))
	reg := metrics.NewRegistry()
	for _, col := range collectors {
		if err := reg.Register(col); err != nil {
			return nil, nil, fmt.Errorf("metrics: %w", err)
		}
	}
	mh, err := metrics.NewHandler(reg, map[string]string{"environment": c.Environment})
	if err != nil {
		return nil, nil, err
	}
	if c.MetricsAddr != "" {
		addr, _, err := metrics.Serve(ctx, c.MetricsAddr, reg)
		if err != nil {
			return nil, nil, err
		}
		z.Info("metrics listening", zap.String("url", "http://"+addr.String()+"/metrics"))
	}
	return z, mh, nil
}
