package chaosrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/inferflow/inferflow/internal/devserver"
)

// TemporalServer is the Temporal service a run goes against. The dev
// server (DevServer) and a production-topology cluster can restart; an
// External one cannot, and says so with ErrRestartUnsupported.
type TemporalServer interface {
	HostPort() string
	Namespace() string
	Restart(ctx context.Context) error
	Stop() error
}

// ErrRestartUnsupported is Restart's error for a server the run does not
// own: the run skips that fault and prints so.
var ErrRestartUnsupported = errors.New("chaosrun: this Temporal server cannot be restarted by the run")

// DevServer is `temporal server start-dev` on a database file, so a restart
// comes back at the same address with every workflow it had.
type DevServer struct {
	opts devserver.Options

	mu  sync.Mutex
	srv *devserver.Server
}

// DevServerOptions say where the dev server's CLI, env file and database are.
type DevServerOptions struct {
	CLI     string // temporal binary (devserver.FindCLI)
	EnvFile string // temporal-dev.yaml
	DBFile  string // required: the server's SQLite file
	Output  io.Writer
}

// StartDevServer starts a headless dev server on free loopback ports.
func StartDevServer(ctx context.Context, o DevServerOptions) (*DevServer, error) {
	if o.DBFile == "" {
		return nil, errors.New("chaosrun: the dev server needs a DBFile to survive restarts")
	}
	d := &DevServer{opts: devserver.Options{CLI: o.CLI, EnvFile: o.EnvFile, Env: "dev", FreePorts: true, DBFile: o.DBFile, Output: o.Output}}
	srv, err := devserver.Start(ctx, d.opts)
	if err != nil {
		return nil, err
	}
	d.srv, d.opts.Ports = srv, srv.Ports
	return d, nil
}

func (d *DevServer) HostPort() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.srv.Address
}

func (d *DevServer) Namespace() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.srv.Namespace
}

// Restart stops the server (interrupt, then kill after 10 s) and starts it
// again on the same ports and database file.
func (d *DevServer) Restart(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.srv.Stop(); err != nil {
		return fmt.Errorf("stop dev server: %w", err)
	}
	srv, err := devserver.Start(ctx, d.opts)
	if err != nil {
		return fmt.Errorf("restart dev server: %w", err)
	}
	d.srv = srv
	return nil
}

func (d *DevServer) Stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.srv.Stop()
}

// External is a Temporal service the run only uses (a cluster or Temporal
// Cloud given by address): it cannot be restarted.
type External struct {
	Address, NS string
}

func (e External) HostPort() string                  { return e.Address }
func (e External) Namespace() string                 { return e.NS }
func (e External) Restart(ctx context.Context) error { return ErrRestartUnsupported }
func (e External) Stop() error                       { return nil }
