package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/inferflow/inferflow/internal/faultproxy"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/ledger/ledgertest"
)

// The worker waits for a ledger database that is down at its start, up to
// --ledger-wait, and fails at once on a ledger that will never open.
func TestOpenLedgerWaitsForTheDatabase(t *testing.T) {
	dsn := ledgertest.PostgresDSN(t) // reachable: a fresh schema
	proxy, err := faultproxy.Listen("127.0.0.1:0", "127.0.0.1:5432")
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	viaProxy := strings.Replace(dsn, "127.0.0.1:5432", proxy.Addr(), 1)
	if viaProxy == dsn {
		t.Skipf("test DSN %s is not on 127.0.0.1:5432", ledger.RedactDSN(dsn))
	}

	for _, tt := range []struct {
		name     string
		dsn      string
		wait     time.Duration
		upAfter  time.Duration // bring the proxy up after this (0: never down)
		wantOpen bool
		retries  bool
	}{
		{"up at once", viaProxy, time.Minute, 0, true, false},
		{"down, then up within the wait", viaProxy, time.Minute, 1500 * time.Millisecond, true, true},
		{"down for longer than the wait", viaProxy, time.Second, time.Hour, false, true},
		{"no wait", viaProxy, 0, time.Hour, false, false},
		{"a DSN that will never parse", "postgres://postgres@127.0.0.1:5432/test?sslmode=nonsense", time.Minute, 0, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.upAfter > 0 {
				proxy.Down()
				timer := time.AfterFunc(tt.upAfter, proxy.Up)
				defer timer.Stop()
			}
			defer proxy.Up()
			core, logs := observer.New(zap.WarnLevel)
			start := time.Now()
			l, err := openLedger(context.Background(), ledger.Config{DSN: tt.dsn}, tt.wait, zap.New(core))
			took := time.Since(start)
			if (err == nil) != tt.wantOpen {
				t.Fatalf("open: %v (after %v), want open=%v", err, took, tt.wantOpen)
			}
			if l != nil {
				l.Close()
			}
			if retried := logs.FilterMessage("ledger unreachable; retrying").Len() > 0; retried != tt.retries {
				t.Errorf("retried = %v, want %v (%d log lines)", retried, tt.retries, logs.Len())
			}
			if !tt.wantOpen && took > tt.wait+2*time.Second {
				t.Errorf("gave up after %v, wait was %v", took, tt.wait)
			}
		})
	}
}
