package main

import (
	"context"

	"go.temporal.io/sdk/client"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/logging"
	"github.com/inferflow/inferflow/internal/temporalclient"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/pkg/inferflow"
)

// connFlags are the flags every command shares: where Temporal is, and the
// blob store the worker reads images from.
type connFlags struct {
	temporal temporalclient.Config
	blobDir  string
	logLevel string
}

func (f *connFlags) register(s *envflag.Set) {
	f.temporal.Register(s)
	s.String(&f.blobDir, "blob-dir", "INFERFLOW_BLOB_DIR", ".data/blobs", "image blob store folder (shared with the worker)")
	s.String(&f.logLevel, "log-level", "INFERFLOW_LOG_LEVEL", "warn", "SDK log level: debug, info, warn or error")
}

func (f *connFlags) client(ctx context.Context) (*inferflow.Client, func(), error) {
	if err := f.temporal.Validate(); err != nil {
		return nil, nil, usageErr("%v", err)
	}
	z, err := logging.New(logging.Dev, f.logLevel)
	if err != nil {
		return nil, nil, usageErr("--log-level: %v", err)
	}
	c, err := f.temporal.Dial(ctx, logging.NewSDK(z), client.MetricsNopHandler)
	if err != nil {
		return nil, nil, err
	}
	return &inferflow.Client{Temporal: c, TaskQueue: f.temporal.TaskQueue, Blobs: blob.Dir{Root: f.blobDir}}, c.Close, nil
}
