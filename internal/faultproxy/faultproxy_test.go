package faultproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/ledger/ledgertest"
)

// echoServer echoes each line it reads; it stops with the test.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

func startProxy(t *testing.T, upstream string) *Proxy {
	t.Helper()
	p, err := Listen("127.0.0.1:0", upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// roundTrip sends a line through addr and returns the echo, or the error.
func roundTrip(addr, line string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func TestProxyStates(t *testing.T) {
	p := startProxy(t, echoServer(t))
	steps := []struct {
		name   string
		act    func()
		wantOK bool
	}{
		{"up forwards", func() {}, true},
		{"down refuses", p.Down, false},
		{"up again forwards", p.Up, true},
		{"latency still forwards", func() { _ = p.SetLatency(20 * time.Millisecond) }, true},
	}
	for _, s := range steps {
		s.act()
		got, err := roundTrip(p.Addr(), "hello")
		if ok := err == nil && got == "hello"; ok != s.wantOK {
			t.Fatalf("%s: got %q, %v; want ok=%v", s.name, got, err, s.wantOK)
		}
	}
	st := p.Stats()
	if st.Accepted != 3 || st.Refused != 1 {
		t.Fatalf("stats %+v, want 3 accepted and 1 refused", st)
	}
}

func TestLatencyDelays(t *testing.T) {
	p := startProxy(t, echoServer(t))
	if err := p.SetLatency(-time.Second); err == nil {
		t.Fatal("negative latency accepted")
	}
	if err := p.SetLatency(100 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := roundTrip(p.Addr(), "x"); err != nil {
		t.Fatal(err)
	}
	// One chunk each way: at least 200 ms.
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("round trip took %v with 100 ms latency each way", d)
	}
}

func TestDownCutsOpenConnections(t *testing.T) {
	for _, cut := range []struct {
		name     string
		act      func(*Proxy)
		thenOpen bool // a new connection works afterwards
	}{
		{"Down", (*Proxy).Down, false},
		{"ResetAll", (*Proxy).ResetAll, true},
	} {
		t.Run(cut.name, func(t *testing.T) {
			p := startProxy(t, echoServer(t))
			c, err := net.Dial("tcp", p.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := bufio.NewReader(c)
			if _, err := io.WriteString(c, "a\n"); err != nil {
				t.Fatal(err)
			}
			if _, err := r.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			cut.act(p)
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			_, _ = io.WriteString(c, "b\n")
			if _, err := r.ReadString('\n'); err == nil {
				t.Fatal("open connection still echoes after the cut")
			} else if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
				t.Fatalf("connection hung instead of being cut: %v", err)
			}
			if _, err := roundTrip(p.Addr(), "c"); (err == nil) != cut.thenOpen {
				t.Fatalf("new connection after %s: err=%v", cut.name, err)
			}
			if got := p.Stats().Reset; got != 1 {
				t.Fatalf("reset count %d, want 1", got)
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestCloseEndsEverything(t *testing.T) {
	p, err := Listen("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "a\n"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a connection open")
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("closed proxy still accepts")
	}
}

func TestListenRefusesBadInput(t *testing.T) {
	if _, err := Listen("127.0.0.1:0", ""); err == nil {
		t.Fatal("empty upstream accepted")
	}
	if _, err := Listen("256.0.0.1:0", "127.0.0.1:1"); err == nil {
		t.Fatal("bad listen address accepted")
	}
}

func TestUnreachableUpstreamDropsClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	p := startProxy(t, dead)
	if _, err := roundTrip(p.Addr(), "x"); err == nil {
		t.Fatal("round trip through a proxy with no upstream succeeded")
	}
	if got := p.Stats().Refused; got != 1 {
		t.Fatalf("refused %d, want 1", got)
	}
}

// The drill the proxy exists for: the PostgreSQL ledger behind it fails
// with an error while it is down, and works again, on the same ledger
// handle, once it is up.
func TestPostgresLedgerThroughProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	dsn := ledgertest.PostgresDSN(t)
	host := "127.0.0.1:5432"
	p := startProxy(t, host)
	proxied := strings.Replace(dsn, host, p.Addr(), 1)
	if proxied == dsn {
		t.Skipf("test DSN does not name %s; cannot route it through the proxy", host)
	}
	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Config{DSN: proxied, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Credit(ctx, "u1", 1000, "fund-1"); err != nil {
		t.Fatal(err)
	}

	p.Down()
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = l.Balance(cctx, "u1")
	cancel()
	if err == nil {
		t.Fatal("balance read succeeded with the database unreachable")
	}

	p.Up()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := l.Balance(ctx, "u1")
		if err == nil {
			if b.Available != 1000 {
				t.Fatalf("balance after outage %+v, want 1000 available", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger did not recover after the proxy came up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := p.Stats(); st.Reset == 0 && st.Refused == 0 {
		t.Fatalf("stats %+v: the outage touched no connection", st)
	}
}
