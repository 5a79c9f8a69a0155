// Command devserver starts the Temporal dev server described by
// temporal-dev.yaml unless one already answers there, optionally runs a
// command beside it (the worker, for `make run`), and on Ctrl-C stops what
// it started.
//
//	devserver [-env-file temporal-dev.yaml] [-env dev] [-- command args...]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/envflag"
)

// settings are devserver's flags. TEMPORAL_CLI is read by
// devserver.FindCLI when --cli is not given.
var settings = struct {
	EnvFile envflag.Spec[string]
	Env     envflag.Spec[string]
	CLI     envflag.Spec[string]
}{
	EnvFile: envflag.Spec[string]{Flag: "env-file", Default: "temporal-dev.yaml", Help: "Temporal CLI env file", Check: envflag.NotBlank},
	Env:     envflag.Spec[string]{Flag: "env", Default: "dev", Help: "environment in the env file", Check: envflag.NotBlank},
	CLI: envflag.Spec[string]{Flag: "cli", Env: "TEMPORAL_CLI", External: true,
		Help: "temporal binary (default: $TEMPORAL_CLI, .tools/bin/temporal, PATH)"},
}

type options struct{ envFile, env, cli string }

func (o *options) register(s *envflag.Set) {
	envflag.Var(s, &o.envFile, settings.EnvFile)
	envflag.Var(s, &o.env, settings.Env)
	envflag.Var(s, &o.cli, settings.CLI)
}

func main() {
	var o options
	s := envflag.New("devserver")
	o.register(s)
	if err := s.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "devserver:", err)
		os.Exit(2)
	}
	if err := run(o.envFile, o.env, o.cli, s.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "devserver:", err)
		os.Exit(1)
	}
}

func run(envFile, env, cli string, command []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	s, err := devserver.Load(envFile, env)
	if err != nil {
		return err
	}
	addr, ns := s.Flags["address"], s.Flags["namespace"]
	check, cancel := context.WithTimeout(ctx, 3*time.Second)
	running := devserver.Ready(check, addr, ns)
	cancel()

	var srv *devserver.Server
	if running {
		fmt.Printf("Using the Temporal server already running at %s.\n", addr)
	} else {
		if cli == "" {
			root, _ := filepath.Abs(filepath.Dir(envFile))
			if cli, err = devserver.FindCLI(root); err != nil {
				return err
			}
		}
		logPath := filepath.Join(".data", "temporal-dev.log")
		_ = os.MkdirAll(".data", 0o755)
		logFile, err := os.Create(logPath)
		if err != nil {
			return err
		}
		defer logFile.Close()
		fmt.Printf("Starting the Temporal dev server at %s (log: %s) ...\n", addr, logPath)
		start := time.Now()
		srv, err = devserver.Start(ctx, devserver.Options{CLI: cli, EnvFile: envFile, Env: env, Output: logFile})
		if err != nil {
			return err
		}
		defer func() {
			fmt.Println("Stopping the Temporal dev server ...")
			_ = srv.Stop()
		}()
		fmt.Printf("Temporal dev server ready in %.1fs.\n", time.Since(start).Seconds())
	}
	if ui := s.Flags["ui-port"]; ui != "" {
		fmt.Printf("\n  Temporal Web UI:  http://localhost:%s/namespaces/%s/workflows\n\n", ui, ns)
	}

	if len(command) == 0 {
		fmt.Println("Press Ctrl-C to stop.")
		select {
		case <-ctx.Done():
		case <-serverDone(srv):
			return fmt.Errorf("the Temporal dev server exited; see .data/temporal-dev.log")
		}
		return nil
	}
	child := exec.Command(command[0], command[1:]...)
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := child.Start(); err != nil {
		return fmt.Errorf("start %s: %w", command[0], err)
	}
	waited := make(chan error, 1)
	go func() { waited <- child.Wait() }()
	select {
	case err := <-waited:
		return err
	case <-ctx.Done():
		// The terminal's Ctrl-C reaches the child too; SIGTERM may not.
		_ = child.Process.Signal(os.Interrupt)
		select {
		case <-waited:
		case <-time.After(15 * time.Second):
			_ = child.Process.Kill()
			<-waited
		}
		return nil
	}
}

func serverDone(srv *devserver.Server) <-chan error {
	if srv == nil {
		return nil
	}
	return srv.Done()
}
