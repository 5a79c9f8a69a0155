package cluster

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

// An unreachable PostgreSQL is a PostgresError that says how to start it.
func TestEnsureDatabaseUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	_, err = EnsureDatabase(context.Background(), Postgres{Port: port}, "scratch", false)
	var pgErr *PostgresError
	if !errors.As(err, &pgErr) || pgErr.Op != "connect" || !strings.Contains(err.Error(), "start it") {
		t.Fatalf("err = %v, want a PostgresError on connect saying how to start it", err)
	}
	if _, err := EnsureDatabase(context.Background(), Postgres{Port: port}, "Bad-Name", false); err == nil || errors.As(err, &pgErr) && pgErr.Op == "connect" {
		t.Fatalf("a bad name must be refused before connecting: %v", err)
	}
}
