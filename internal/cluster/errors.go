package cluster

import (
	"errors"
	"fmt"
)

// NotBuiltError means a binary `make temporal-server` builds is missing.
type NotBuiltError struct {
	What string // "temporal-server", "temporal-sql-tool", "schema"
	Path string
}

func (e *NotBuiltError) Error() string {
	return fmt.Sprintf("%s not found at %s: run `make temporal-server` (builds the Temporal server, its SQL tool and schemas into .tools/bin once)", e.What, e.Path)
}

// PostgresError means PostgreSQL could not be reached or refused a
// statement the cluster needs (creating or dropping its databases).
type PostgresError struct {
	Addr string
	Op   string
	Err  error
}

func (e *PostgresError) Error() string {
	return fmt.Sprintf("PostgreSQL at %s: %s: %v (is it running? start it with "+
		"`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`; "+
		"the cluster needs a user that may create databases, trust or password auth)", e.Addr, e.Op, e.Err)
}

func (e *PostgresError) Unwrap() error { return e.Err }

// SchemaError means temporal-sql-tool failed on a database.
type SchemaError struct {
	Database string
	Step     string // setup-schema, update-schema
	Output   string // the tool's last lines
	Err      error
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("temporal-sql-tool %s on database %s: %v\n%s\n(start over with -fresh, which drops and recreates the cluster's databases)",
		e.Step, e.Database, e.Err, e.Output)
}

func (e *SchemaError) Unwrap() error { return e.Err }

// PortInUseError means a port the server needs is taken, most likely by
// another cluster or dev server.
type PortInUseError struct {
	Port int
	Err  error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d is in use (%v): is a cluster already running? stop it, or choose other ports (cmd/cluster -port)", e.Port, e.Err)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// ExitedError means the server process ended while the cluster needed it.
type ExitedError struct {
	Log  string // where its output went
	Tail string // its last lines
	Err  error
}

func (e *ExitedError) Error() string {
	return fmt.Sprintf("temporal server exited: %v; its log %s ends:\n%s", e.Err, e.Log, e.Tail)
}

func (e *ExitedError) Unwrap() error { return e.Err }

// ErrNotReady means the server did not become ready in time.
var ErrNotReady = errors.New("temporal server not ready")
