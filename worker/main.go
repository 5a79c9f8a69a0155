// Command worker runs the inferflow Temporal worker: the consensus
// evaluation and billed inference workflows and their activities, with a
// Prometheus /metrics endpoint.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/ledger/ledgerfault"
	"github.com/inferflow/inferflow/internal/logging"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/storeconfig"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/wire"
)

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker: configuration error:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	z, mh, err := cfg.telemetry.Start(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = z.Sync() }()

	models, err := provider.New(cfg.provider)
	if err != nil {
		return err
	}
	z.Info("model provider", zap.Stringer("config", cfg.provider))

	tr, err := cfg.telemetry.Tracing.Start(ctx, "inferflow-worker")
	if err != nil {
		return err
	}
	defer func() {
		if err := tr.ShutdownWithin(5 * time.Second); err != nil {
			z.Warn("tracing shutdown", zap.Error(err))
		}
	}()

	c, err := cfg.temporal.Dial(ctx, logging.NewSDK(z), mh, tr.Interceptors()...)
	if err != nil {
		return err
	}
	defer c.Close()

	warn := func(msg string, err error) { z.Warn(msg, zap.Error(err)) }
	if err := ensureSearchAttributes(ctx, c.OperatorService(), cfg.temporal.Namespace, warn); err != nil {
		return err
	}
	stopCodec, err := serveCodec(cfg, z)
	if err != nil {
		return err
	}
	defer stopCodec()

	catalog := ledger.DefaultCatalog()
	if cfg.catalog != "" {
		if catalog, err = ledger.ParseCatalog(cfg.catalog); err != nil {
			return settings.Catalog.Invalid(cfg.catalog, "%w", err)
		}
	}
	led, err := openLedger(ctx, ledger.Config{DSN: cfg.ledgerDSN, Catalog: catalog}, cfg.ledgerWait, z)
	if err != nil {
		return storeconfig.Settings.LedgerDSN.Errorf("%w", err)
	}
	defer led.Close()
	if err := ensureExpirySchedule(ctx, c, cfg.temporal.TaskQueue, cfg.sweepEvery); err != nil {
		return err
	}

	var billed ledger.Ledger = led
	if cfg.faultCaptures > 0 || cfg.faultReleases > 0 {
		z.Warn("FAULT INJECTION: the next ledger captures/releases will fail", zap.Int("captures", cfg.faultCaptures), zap.Int("releases", cfg.faultReleases))
		billed = ledgerfault.Wrap(led, cfg.faultCaptures, cfg.faultReleases)
	}
	deps := registry.Deps{Models: models, Blobs: blob.Dir{Root: cfg.blobDir}, Ledger: billed, Temporal: c, Environment: cfg.telemetry.Environment}
	w := worker.New(c, cfg.temporal.TaskQueue, registry.WorkerOptions(worker.Options{}))
	registry.Register(w, deps)
	mw := newModelWorker(c, cfg.temporal.TaskQueue, cfg.modelRPS, cfg.modelCalls, mh)
	registry.ModelActivities(mw, deps)

	z.Info("worker starting", zap.String("address", cfg.temporal.Address), zap.String("namespace", cfg.temporal.Namespace),
		zap.String("taskQueue", cfg.temporal.TaskQueue), zap.String("ledger", ledger.RedactDSN(cfg.ledgerDSN)))
	z.Info("model calls", zap.String("taskQueue", wire.ModelCallQueue(cfg.temporal.TaskQueue)),
		zap.Int("perSecondAllWorkers", cfg.modelRPS), zap.Int("atOnceThisWorker", cfg.modelCalls))
	if err := mw.Start(); err != nil {
		return fmt.Errorf("start model-call worker: %w", err)
	}
	defer mw.Stop()
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	<-ctx.Done()
	z.Info("worker stopping")
	w.Stop()
	return nil
}

// serveCodec logs how payloads are protected and, with keys, serves the
// codec server the Web UI and the CLI decode history through.
func serveCodec(cfg config, z *zap.Logger) (stop func(), err error) {
	keys, err := cfg.temporal.Payloads.Keyring()
	if err != nil {
		return nil, err
	}
	if keys == nil {
		z.Info("payloads in clear (no payload keys)")
		return func() {}, nil
	}
	z.Info("payloads encrypted", zap.String("activeKey", keys.Active()), zap.Strings("keyIds", keys.IDs()))
	if cfg.codec.Addr == "" {
		return func() {}, nil
	}
	srv, err := cfg.codec.Serve(keys)
	if err != nil {
		return nil, err
	}
	z.Info("codec server listening", zap.String("url", srv.URL()), zap.Strings("origins", cfg.codec.OriginList()),
		zap.Bool("token", cfg.codec.Token != ""))
	return srv.Close, nil
}
