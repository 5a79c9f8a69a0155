package cluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is the PostgreSQL server the cluster keeps its databases on.
type Postgres struct {
	Host     string // default 127.0.0.1
	Port     int    // default 5432
	User     string // default postgres; must be allowed to create databases
	Password string // empty with trust auth
}

// DefaultPostgres is the local server with trust auth.
var DefaultPostgres = Postgres{Host: "127.0.0.1", Port: 5432, User: "postgres"}

func (p Postgres) withDefaults() Postgres {
	if p.Host == "" {
		p.Host = DefaultPostgres.Host
	}
	if p.Port == 0 {
		p.Port = DefaultPostgres.Port
	}
	if p.User == "" {
		p.User = DefaultPostgres.User
	}
	return p
}

// Addr is host:port.
func (p Postgres) Addr() string {
	p = p.withDefaults()
	return net.JoinHostPort(p.Host, strconv.Itoa(p.Port))
}

// DSN is a postgres:// URL for database (the form the ledger takes).
func (p Postgres) DSN(database string) string {
	p = p.withDefaults()
	u := url.URL{Scheme: "postgres", Host: p.Addr(), Path: "/" + database, RawQuery: "sslmode=disable"}
	if p.Password != "" {
		u.User = url.UserPassword(p.User, p.Password)
	} else {
		u.User = url.User(p.User)
	}
	return u.String()
}

// dbName is what the cluster accepts as a database name: it goes into
// CREATE/DROP DATABASE unquoted-safe, and into the server's config.
var dbName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func checkDBName(name string) error {
	if !dbName.MatchString(name) {
		return fmt.Errorf("database name %q: want lower-case letters, digits and _ (at most 63)", name)
	}
	return nil
}

// admin connects to the maintenance database "postgres".
func (p Postgres) admin(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, p.DSN("postgres"))
	if err != nil {
		return nil, &PostgresError{Addr: p.Addr(), Op: "connect", Err: err}
	}
	return c, nil
}

// EnsureDatabase creates database name unless it exists; with fresh it
// drops it first (closing its connections). It reports whether it created
// the database.
func EnsureDatabase(ctx context.Context, p Postgres, name string, fresh bool) (created bool, err error) {
	if err := checkDBName(name); err != nil {
		return false, err
	}
	c, err := p.admin(ctx)
	if err != nil {
		return false, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	if fresh {
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return false, &PostgresError{Addr: p.Addr(), Op: "drop database " + name, Err: err}
		}
	}
	var exists bool
	if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return false, &PostgresError{Addr: p.Addr(), Op: "look up database " + name, Err: err}
	}
	if exists {
		return false, nil
	}
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return false, &PostgresError{Addr: p.Addr(), Op: "create database " + name, Err: err}
	}
	return true, nil
}

// DropDatabase drops database name if it exists, closing its connections.
func DropDatabase(ctx context.Context, p Postgres, name string) error {
	if err := checkDBName(name); err != nil {
		return err
	}
	c, err := p.admin(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return &PostgresError{Addr: p.Addr(), Op: "drop database " + name, Err: err}
	}
	return nil
}

// hasTable reports whether database name holds table (in the public schema).
func hasTable(ctx context.Context, p Postgres, database, table string) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, p.DSN(database))
	if err != nil {
		return false, &PostgresError{Addr: p.Addr(), Op: "connect to " + database, Err: err}
	}
	defer c.Close(context.WithoutCancel(ctx))
	var ok bool
	err = c.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", "public."+table).Scan(&ok)
	if err != nil {
		return false, &PostgresError{Addr: p.Addr(), Op: "inspect " + database, Err: err}
	}
	return ok, nil
}
