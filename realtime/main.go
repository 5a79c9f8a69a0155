// Command realtime is inferflow's realtime voice process: it takes callers'
// WebRTC calls over WHIP, runs each caller's microphone through the speech
// gate to a realtime model, plays the model's voice back, and records each
// call in a durable VoiceSession workflow, with every response billed.
//
// It is a Temporal client, not a worker: worker load never sits on the
// audio path, and calls go on while Temporal is unreachable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/inferflow/inferflow/gate"
	"github.com/inferflow/inferflow/gate/gateprom"
	"github.com/inferflow/inferflow/internal/logging"
	"github.com/inferflow/inferflow/internal/realtimemodel"
	"github.com/inferflow/inferflow/internal/voice"
	"github.com/inferflow/inferflow/internal/voicepage"
	"github.com/inferflow/inferflow/internal/voicesignal"
)

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "realtime: configuration error:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "realtime:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	gates := gateprom.NewCollector("inferflow")
	z, mh, err := cfg.telemetry.Start(ctx, gates)
	if err != nil {
		return err
	}
	defer func() { _ = z.Sync() }()

	rc, err := cfg.rtcConfig()
	if err != nil {
		return err
	}
	rc.Logger = z.Named("rtc")
	if cfg.tokens == DevTokens {
		z.Warn("using the development token (INFERFLOW_REALTIME_TOKENS unset): set your own before exposing this process")
	}

	// A lazy client: the process starts, and calls go on, while Temporal is
	// down; the session records wait and are delivered when it is back.
	opts, err := cfg.temporal.ClientOptions()
	if err != nil {
		return err
	}
	tr, err := cfg.telemetry.Tracing.Start(ctx, "inferflow-realtime")
	if err != nil {
		return err
	}
	defer func() {
		if err := tr.ShutdownWithin(5 * time.Second); err != nil {
			z.Warn("tracing shutdown", zap.Error(err))
		}
	}()
	opts.Logger, opts.MetricsHandler = logging.NewSDK(z), mh
	opts.Interceptors = append(opts.Interceptors, tr.Interceptors()...)
	tc, err := client.NewLazyClient(opts)
	if err != nil {
		return fmt.Errorf("temporal client: %w", err)
	}
	defer tc.Close()

	// Close what a previous life of this process left open, in the
	// background: calls are taken meanwhile, unindexed until it is done.
	var indexed atomic.Bool
	sweepCtx, stopSweep := context.WithTimeout(ctx, 30*time.Second)
	swept := make(chan struct{})
	defer func() { stopSweep(); <-swept }()
	go func() {
		defer close(swept)
		n, ok, err := voicesignal.CloseOrphans(sweepCtx, tc, cfg.temporal.Namespace, cfg.owner(), z)
		switch {
		case errors.Is(err, voicesignal.ErrNotIndexed):
			z.Warn("the VoiceOwner search attribute is not registered: a restart cannot close the sessions it lost (their owner lease does)", zap.Error(err))
		case err != nil:
			z.Warn("closing the sessions a previous run left open did not finish; their owner lease closes them", zap.Error(err), zap.Int("closed", n))
		}
		z.Info("restart sweep done: sessions a previous run left open closed", zap.Int("closed", n), zap.Bool("indexed", ok),
			zap.String("instanceId", cfg.owner()))
		// Only a namespace known to have the attribute may be given it at
		// start (an unknown one fails the start).
		indexed.Store(ok)
	}()

	calls, err := voice.NewCalls(voice.CallsConfig{
		RTC:          rc,
		Session:      voice.Config{Gate: gate.Config{MaxBarrierClosed: cfg.maxBarrier}, ReserveTimeout: cfg.reserveWait},
		JitterDelay:  cfg.jitter,
		TaskQueue:    cfg.temporal.TaskQueue,
		ModelID:      cfg.billingModel,
		Owner:        cfg.owner(),
		OwnerLease:   cfg.ownerLease,
		OwnerIndexed: &indexed,
		Temporal:     tc,
		NewModel:     cfg.newModel(z),
		Observer:     gates,
		Logger:       z,
	})
	if err != nil {
		return err
	}

	if cfg.pprofAddr != "" {
		stopProf, err := servePprof(cfg.pprofAddr)
		if err != nil {
			return err
		}
		defer stopProf()
	}

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return settings.Listen.Errorf("%v", err)
	}
	srv := &http.Server{Handler: voicepage.Mount(calls.Handler(), cfg.pageConfig()), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	z.Info("realtime listening", zap.String("whip", "http://"+ln.Addr().String()+"/whip"),
		zap.String("temporal", cfg.temporal.Address), zap.String("taskQueue", cfg.temporal.TaskQueue),
		zap.String("instanceId", cfg.owner()), zap.Duration("ownerLease", cfg.ownerLease))
	fmt.Printf("\n  Realtime WHIP endpoint:  http://%s/whip\n  Voice page:              http://%s/\n\n", ln.Addr(), ln.Addr())

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	}
	z.Info("realtime stopping: ending calls", zap.Int64("calls", calls.Active()))
	stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := calls.Close(stopCtx); err != nil {
		z.Warn("calls did not all end in time", zap.Error(err))
	}
	return srv.Shutdown(stopCtx)
}

// newModel opens a call's realtime model: the built-in simulator, or a
// service that speaks the realtime event protocol over WebSocket.
func (c config) newModel(z *zap.Logger) func(ctx context.Context, sessionID string) (realtimemodel.Upstream, error) {
	if c.upstream == "websocket" {
		z.Info("realtime model: websocket", zap.String("url", c.modelURL), zap.String("model", c.model), zap.Bool("apiKey", c.apiKey != ""))
		return func(ctx context.Context, _ string) (realtimemodel.Upstream, error) {
			return realtimemodel.NewWebSocket(ctx, realtimemodel.WSConfig{URL: c.modelURL, Model: c.model, Voice: c.voice,
				Instructions: c.instructions, APIKey: c.apiKey, NoOutputAudioClear: c.noAudioClear, Logger: z.Named("upstream")})
		}
	}
	return func(_ context.Context, sessionID string) (realtimemodel.Upstream, error) {
		return realtimemodel.NewSimulated(realtimemodel.SimConfig{SessionID: sessionID, ResponseLatency: c.simLatency})
	}
}

// pageConfig prefills the page's token field with the development token
// only, never with configured tokens.
func (c config) pageConfig() voicepage.Config {
	pc := voicepage.Config{Namespace: c.temporal.Namespace}
	if c.tokens == DevTokens {
		pc.Token, _, _ = strings.Cut(DevTokens, ":")
	}
	return pc
}

// servePprof serves the Go profiles on their own listener, apart from the
// WHIP endpoint, so that they are never exposed with it.
func servePprof(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, settings.PprofAddr.Errorf("%v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	return func() { _ = srv.Close(); <-done }, nil
}
