// Command devserver starts the Temporal dev server described by
// temporal-dev.yaml unless one already answers there, optionally runs
// commands beside it (the worker and the realtime process, for `make run`),
// and on Ctrl-C, or when one of the commands exits, stops what it started.
// With -dev-payload-keys it also makes sure the commands encrypt payloads:
// unless keys are configured, it generates a local key file once and hands
// it to them.
//
//	devserver [-env-file temporal-dev.yaml] [-env dev] [-dev-payload-keys .inferflow/dev-keys] [-- command args... [-- command args...]]
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
	"github.com/inferflow/inferflow/internal/payloadkeys"
	"github.com/inferflow/inferflow/pkg/payloadcrypt"
)

// settings are devserver's flags. TEMPORAL_CLI is read by
// devserver.FindCLI when --cli is not given.
var settings = struct {
	EnvFile envflag.Spec[string]
	Env     envflag.Spec[string]
	CLI     envflag.Spec[string]
	DevKeys envflag.Spec[string]
}{
	EnvFile: envflag.Spec[string]{Flag: "env-file", Default: "temporal-dev.yaml", Help: "Temporal CLI env file", Check: envflag.NotBlank},
	Env:     envflag.Spec[string]{Flag: "env", Default: "dev", Help: "environment in the env file", Check: envflag.NotBlank},
	CLI: envflag.Spec[string]{Flag: "cli", Env: "TEMPORAL_CLI", External: true,
		Help: "temporal binary (default: $TEMPORAL_CLI, .tools/bin/temporal, PATH)"},
	DevKeys: envflag.Spec[string]{Flag: "dev-payload-keys",
		Help: "unless payload keys are configured, create this key file once (0600) and give it to the commands"},
}

type options struct{ envFile, env, cli, devKeys string }

func (o *options) register(s *envflag.Set) {
	envflag.Var(s, &o.envFile, settings.EnvFile)
	envflag.Var(s, &o.env, settings.Env)
	envflag.Var(s, &o.cli, settings.CLI)
	envflag.Var(s, &o.devKeys, settings.DevKeys)
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
	if err := run(o, s.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "devserver:", err)
		os.Exit(1)
	}
}

func run(o options, command []string) error {
	envFile, env, cli := o.envFile, o.env, o.cli
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var childEnv []string
	if o.devKeys != "" && len(command) > 0 {
		var err error
		if childEnv, err = devPayloadKeys(envflag.OS, o.devKeys, time.Now()); err != nil {
			return settings.DevKeys.Errorf("%w", err)
		}
	}

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
	return runAll(ctx, splitCommands(command), childEnv)
}

// devPayloadKeys returns the environment that makes the commands encrypt
// payloads with the key file at path, creating it once, or nothing when the
// environment names keys already.
func devPayloadKeys(env envflag.Environment, path string, now time.Time) ([]string, error) {
	for _, name := range []string{payloadkeys.Settings.KeysFile.Env, payloadkeys.Settings.Keys.Env} {
		if v, ok := env.LookupEnv(name); ok && v != "" {
			fmt.Printf("Payloads are encrypted with the keys of %s.\n", name)
			return nil, nil
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	created, err := payloadcrypt.EnsureKeyFile(abs, now)
	if err != nil {
		return nil, err
	}
	verb := "in"
	if created {
		verb = "generated into"
	}
	fmt.Printf("Payloads are encrypted with the local key %s %s; for the starter in another shell:\n"+
		"  export %s=%s\n", verb, path, payloadkeys.Settings.KeysFile.Env, abs)
	return []string{payloadkeys.Settings.KeysFile.Env + "=" + abs}, nil
}

// splitCommands cuts "a x -- b y" into [[a x] [b y]].
func splitCommands(args []string) [][]string {
	var out [][]string
	cur := []string{}
	for _, a := range args {
		if a == "--" {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = []string{}
			continue
		}
		cur = append(cur, a)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// runAll starts every command, with env added to this process's
// environment, and waits. When one exits, or on Ctrl-C, the
// others are interrupted (then killed after 15 s); the first error wins.
func runAll(ctx context.Context, commands [][]string, env []string) error {
	type exit struct {
		name string
		err  error
	}
	waited := make(chan exit, len(commands))
	var children []*exec.Cmd
	for _, c := range commands {
		child := exec.Command(c[0], c[1:]...)
		child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
		if len(env) > 0 {
			child.Env = append(os.Environ(), env...)
		}
		if err := child.Start(); err != nil {
			stopAll(children, waited, len(children))
			return fmt.Errorf("start %s: %w", c[0], err)
		}
		children = append(children, child)
		go func() { waited <- exit{c[0], child.Wait()} }()
	}
	var first error
	select {
	case e := <-waited:
		if e.err != nil {
			first = fmt.Errorf("%s: %w", e.name, e.err)
		} else {
			first = fmt.Errorf("%s exited", e.name)
		}
		stopAll(children, waited, len(children)-1)
	case <-ctx.Done():
		stopAll(children, waited, len(children))
	}
	return first
}

// stopAll interrupts the children (the terminal's Ctrl-C reaches them too;
// SIGTERM may not) and waits for n of them to exit.
func stopAll[T any](children []*exec.Cmd, waited <-chan T, n int) {
	for _, c := range children {
		if c.ProcessState == nil {
			_ = c.Process.Signal(os.Interrupt)
		}
	}
	deadline := time.After(15 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-waited:
		case <-deadline:
			for _, c := range children {
				_ = c.Process.Kill()
			}
			deadline = nil
			i--
		}
	}
}

func serverDone(srv *devserver.Server) <-chan error {
	if srv == nil {
		return nil
	}
	return srv.Done()
}
