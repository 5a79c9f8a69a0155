package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/logging"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/temporalclient"
)

// config is everything the worker needs; every field is a flag with an
// environment default, listed by `worker -h`.
type config struct {
	temporal    temporalclient.Config
	provider    provider.Config
	metricsAddr string
	logMode     string
	logLevel    string
	environment string
	blobDir     string
	ledgerDSN   string
	catalog     string
	sweepEvery  time.Duration
	// Failure drills: make the next N ledger captures / releases fail.
	faultCaptures int
	faultReleases int
}

func parseConfig(args []string) (config, error) {
	var c config
	s := envflag.New("worker")
	c.temporal.Register(s)
	s.String(&c.metricsAddr, "metrics-addr", "INFERFLOW_METRICS_ADDR", "127.0.0.1:9090", "Prometheus /metrics listen address (empty disables)")
	s.String(&c.logMode, "log-mode", "INFERFLOW_LOG_MODE", "dev", "log format: dev (console) or prod (JSON)")
	s.String(&c.logLevel, "log-level", "INFERFLOW_LOG_LEVEL", "info", "debug, info, warn or error")
	s.String(&c.environment, "environment", "APP_ENV", "development", "environment label on metrics and logs")
	s.String(&c.blobDir, "blob-dir", "INFERFLOW_BLOB_DIR", ".data/blobs", "image blob store folder (shared with the starter)")
	s.String(&c.ledgerDSN, "ledger-dsn", "INFERFLOW_LEDGER_DSN", ".data/ledger.db", "credit ledger: a SQLite file path, or a postgres:// DSN")
	s.Duration(&c.sweepEvery, "sweep-every", "INFERFLOW_SWEEP_EVERY", time.Minute, "how often the schedule expires holds past their TTL (when the worker creates it)")
	s.Int(&c.faultCaptures, "fault-capture-failures", "INFERFLOW_FAULT_CAPTURE_FAILURES", 0, "failure drill: the next N ledger captures fail as if the database were down")
	s.Int(&c.faultReleases, "fault-release-failures", "INFERFLOW_FAULT_RELEASE_FAILURES", 0, "failure drill: the next N ledger releases fail as if the database were down")
	s.String(&c.catalog, "models", "INFERFLOW_MODELS", "", "billable model catalog id:promptPer1K:completionPer1K:maxCompletion,... (micro-credits); empty = built-in")

	p := provider.ConfigFromEnv()
	s.String(&p.Kind, "provider", provider.EnvProvider, orDefault(p.Kind, provider.KindOffline), "model provider: offline or openai")
	s.String(&p.BaseURL, "openai-base-url", provider.EnvBaseURL, p.BaseURL, "OpenAI-compatible API root, e.g. http://localhost:11434/v1")
	s.String(&p.VisionModel, "vision-model", provider.EnvVisionModel, p.VisionModel, "default vision model")
	s.String(&p.JudgeModel, "judge-model", provider.EnvJudgeModel, p.JudgeModel, "judge model (default: the vision model)")
	s.String(&p.CompletionModel, "completion-model", provider.EnvCompletionModel, p.CompletionModel, "default completion model for billed jobs")
	s.String(&p.Judge, "judge", provider.EnvJudge, orDefault(p.Judge, provider.JudgeModel), "judge: model or statistical")
	// The API key is read from the environment only, so it never shows up
	// in a process list.
	if err := s.Parse(args); err != nil {
		return c, err
	}
	c.provider = p
	return c, c.validate()
}

func (c config) validate() error {
	var errs []error
	if err := c.temporal.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.provider.Validate(); err != nil {
		errs = append(errs, err)
	}
	switch logging.Mode(c.logMode) {
	case logging.Dev, logging.Prod:
	default:
		errs = append(errs, fmt.Errorf("--log-mode (INFERFLOW_LOG_MODE) %q: want dev or prod", c.logMode))
	}
	if strings.TrimSpace(c.blobDir) == "" {
		errs = append(errs, errors.New("--blob-dir (INFERFLOW_BLOB_DIR) must not be empty"))
	}
	if c.sweepEvery < time.Second {
		errs = append(errs, errors.New("--sweep-every (INFERFLOW_SWEEP_EVERY) must be at least 1s"))
	}
	if strings.TrimSpace(c.ledgerDSN) == "" {
		errs = append(errs, errors.New("--ledger-dsn (INFERFLOW_LEDGER_DSN) must not be empty"))
	}
	if strings.TrimSpace(c.environment) == "" {
		errs = append(errs, errors.New("--environment (APP_ENV) must not be empty"))
	}
	return errors.Join(errs...)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// redactDSN hides a PostgreSQL password before the DSN is logged.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
