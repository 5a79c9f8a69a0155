package main

import (
	"time"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/payloadkeys"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/storeconfig"
	"github.com/inferflow/inferflow/internal/telemetry"
	"github.com/inferflow/inferflow/internal/temporalclient"
)

// The worker's own settings; the shared ones are declared by the packages
// they configure.
var settings = struct {
	SweepEvery    envflag.Spec[time.Duration]
	FaultCaptures envflag.Spec[int]
	FaultReleases envflag.Spec[int]
	Catalog       envflag.Spec[string]
	ModelRPS      envflag.Spec[int]
	ModelCalls    envflag.Spec[int]
	LedgerWait    envflag.Spec[time.Duration]
}{
	SweepEvery: envflag.Spec[time.Duration]{Flag: "sweep-every", Env: "INFERFLOW_SWEEP_EVERY", Default: time.Minute,
		Help: "how often the schedule expires holds past their TTL (when the worker creates it)", Check: envflag.AtLeast(time.Second)},
	FaultCaptures: envflag.Spec[int]{Flag: "fault-capture-failures", Env: "INFERFLOW_FAULT_CAPTURE_FAILURES",
		Help: "failure drill: the next N ledger captures fail as if the database were down", Check: envflag.AtLeast(0)},
	FaultReleases: envflag.Spec[int]{Flag: "fault-release-failures", Env: "INFERFLOW_FAULT_RELEASE_FAILURES",
		Help: "failure drill: the next N ledger releases fail as if the database were down", Check: envflag.AtLeast(0)},
	Catalog: envflag.Spec[string]{Flag: "models", Env: "INFERFLOW_MODELS",
		Help:  "billable model catalog id:promptPer1K:completionPer1K:maxCompletion,... (micro-credits); empty = built-in",
		Check: envflag.Optional(func(v string) error { _, err := ledger.ParseCatalog(v); return err })},
	ModelRPS: envflag.Spec[int]{Flag: "model-rps", Env: "INFERFLOW_MODEL_RPS",
		Help: "the provider's ceiling on model calls per second, held by the Temporal server across all workers (0 = none)", Check: envflag.AtLeast(0)},
	LedgerWait: envflag.Spec[time.Duration]{Flag: "ledger-wait", Env: "INFERFLOW_LEDGER_WAIT", Default: 2 * time.Minute,
		Help: "at start, how long to keep retrying a ledger database that cannot be reached or is locked (0 = fail at once)", Check: envflag.AtLeast(time.Duration(0))},
	ModelCalls: envflag.Spec[int]{Flag: "model-concurrency", Env: "INFERFLOW_MODEL_CONCURRENCY", Default: 64,
		Help: "model calls at once in this worker (the provider's ceiling is this times the workers)", Check: envflag.AtLeast(1)},
}

// config is everything the worker needs; every field is a flag with an
// environment default, listed by `worker -h`.
type config struct {
	temporal   temporalclient.Config
	codec      payloadkeys.ServerConfig
	telemetry  telemetry.Config
	provider   provider.Config
	blobDir    string
	ledgerDSN  string
	ledgerWait time.Duration
	catalog    string
	sweepEvery time.Duration
	// The provider's limits: calls per second (all workers), calls at once
	// (per worker).
	modelRPS, modelCalls int
	// Failure drills: make the next N ledger captures / releases fail.
	faultCaptures int
	faultReleases int
}

// register declares every worker setting on s.
func (c *config) register(s *envflag.Set) {
	c.temporal.Register(s)
	c.codec.Register(s)
	c.telemetry.Register(s)
	envflag.Var(s, &c.blobDir, storeconfig.Settings.BlobDir)
	envflag.Var(s, &c.ledgerDSN, storeconfig.Settings.LedgerDSN)
	envflag.Var(s, &c.ledgerWait, settings.LedgerWait)
	envflag.Var(s, &c.sweepEvery, settings.SweepEvery)
	envflag.Var(s, &c.faultCaptures, settings.FaultCaptures)
	envflag.Var(s, &c.faultReleases, settings.FaultReleases)
	envflag.Var(s, &c.catalog, settings.Catalog)
	envflag.Var(s, &c.modelRPS, settings.ModelRPS)
	envflag.Var(s, &c.modelCalls, settings.ModelCalls)
	c.provider.Register(s)
}

// parseConfig reads the flags and the environment; every error names the
// setting.
func parseConfig(args []string) (config, error) {
	var c config
	s := envflag.New("worker")
	c.register(s)
	err := s.Parse(args)
	return c, err
}
