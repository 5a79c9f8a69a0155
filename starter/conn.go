package main

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/logging"
	"github.com/inferflow/inferflow/internal/storeconfig"
	"github.com/inferflow/inferflow/internal/telemetry"
	"github.com/inferflow/inferflow/internal/temporalclient"
	"github.com/inferflow/inferflow/internal/tracing"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/pkg/inferflow"
)

// connFlags are the flags every command shares: where Temporal is, and the
// blob store the worker reads images from.
type connFlags struct {
	temporal temporalclient.Config
	tracing  tracing.Config
	blobDir  string
	logLevel string
	limits   inferflow.Limits
}

// The request size limits, checked before anything is stored or started.
// Each may only be lowered: the worker reads images with the blob store's
// 20 MiB bound, and the workflow refuses prompts over 256 KiB.
var limitSettings = struct {
	MaxImage  envflag.Spec[int64]
	MaxPrompt envflag.Spec[int]
}{
	MaxImage: envflag.Spec[int64]{Flag: "max-image-bytes", Env: "INFERFLOW_MAX_IMAGE_BYTES", Default: inferflow.DefaultMaxImageBytes,
		Help: "largest image accepted, in bytes (more: VALIDATION_FAILED before anything is stored)", Check: between[int64](1, inferflow.DefaultMaxImageBytes)},
	MaxPrompt: envflag.Spec[int]{Flag: "max-prompt-bytes", Env: "INFERFLOW_MAX_PROMPT_BYTES", Default: inferflow.DefaultMaxPromptBytes,
		Help: "largest prompt accepted, in bytes (more: VALIDATION_FAILED before anything is started)", Check: between(1, inferflow.DefaultMaxPromptBytes)},
}

func between[T int | int64](lo, hi T) func(T) error {
	return func(v T) error {
		if v < lo || v > hi {
			return fmt.Errorf("want %d..%d", lo, hi)
		}
		return nil
	}
}

// registerImageLimit and registerPromptLimit add the limit of the commands
// that take images or prompts.
func (f *connFlags) registerImageLimit(s *envflag.Set) {
	envflag.Var(s, &f.limits.MaxImageBytes, limitSettings.MaxImage)
	f.limits.ImageSetting = limitSettings.MaxImage.Name()
}

func (f *connFlags) registerPromptLimit(s *envflag.Set) {
	envflag.Var(s, &f.limits.MaxPromptBytes, limitSettings.MaxPrompt)
	f.limits.PromptSetting = limitSettings.MaxPrompt.Name()
}

func (f *connFlags) register(s *envflag.Set) {
	f.temporal.Register(s)
	f.tracing.Register(s)
	envflag.Var(s, &f.blobDir, storeconfig.Settings.BlobDir)
	envflag.Var(s, &f.logLevel, logLevel)
}

// logLevel is the shared log-level setting with the starter's quieter
// default: a command's output is its JSON, not the SDK's chatter.
var logLevel = func() envflag.Spec[string] {
	sp := telemetry.Settings.LogLevel
	sp.Default, sp.Help = "warn", "SDK log level: debug, info, warn or error"
	return sp
}()

func (f *connFlags) client(ctx context.Context) (*inferflow.Client, func(), error) {
	if err := f.temporal.Validate(); err != nil {
		return nil, nil, usageErr("%v", err)
	}
	z, err := logging.New(logging.Dev, f.logLevel)
	if err != nil {
		return nil, nil, usageErr("%v", logLevel.Invalid(f.logLevel, "%w", err))
	}
	tr, err := f.tracing.Start(ctx, "inferflow-starter")
	if err != nil {
		return nil, nil, err
	}
	// Closing flushes the start's span: the root of the workflow's trace.
	shutdown := func() { _ = tr.ShutdownWithin(5 * time.Second) }
	c, err := f.temporal.Dial(ctx, logging.NewSDK(z), client.MetricsNopHandler, tr.Interceptors()...)
	if err != nil {
		shutdown()
		return nil, nil, err
	}
	return &inferflow.Client{Temporal: c, TaskQueue: f.temporal.TaskQueue, Blobs: blob.Dir{Root: f.blobDir}, Limits: f.limits},
		func() { c.Close(); shutdown() }, nil
}
