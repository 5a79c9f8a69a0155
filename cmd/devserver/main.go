// Command devserver starts the Temporal dev server described by
// temporal-dev.yaml unless one already answers there, optionally runs a
// command beside it (the worker, for `make run`), and on Ctrl-C stops what
// it started.
//
//	devserver [-env-file temporal-dev.yaml] [-env dev] [-- command args...]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/inferflow/inferflow/internal/devserver"
)

func main() {
	envFile := flag.String("env-file", "temporal-dev.yaml", "Temporal CLI env file")
	env := flag.String("env", "dev", "environment in the env file")
	cli := flag.String("cli", "", "temporal binary (default: $TEMPORAL_CLI, .tools/bin/temporal, PATH)")
	flag.Parse()
	if err := run(*envFile, *env, *cli, flag.Args()); err != nil {
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
