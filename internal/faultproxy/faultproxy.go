// Package faultproxy is a TCP proxy that can be told, while traffic flows,
// to fail: drop every connection and refuse new ones (Down), cut the
// connections that are open (ResetAll), or add latency. The chaos drills put
// it between the ledger and PostgreSQL to make the database unreachable for
// a while without touching the server, which other tests share.
//
// A Proxy owns every goroutine it starts (the accept loop and two copiers
// per connection); Close ends them all and waits for them.
package faultproxy

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards connections accepted on its listener to one upstream
// address.
type Proxy struct {
	ln       net.Listener
	upstream string
	dial     func(network, addr string) (net.Conn, error)

	down    atomic.Bool
	latency atomic.Int64 // added before each forwarded chunk, in ns

	mu     sync.Mutex
	conns  map[*pair]struct{}
	closed bool // set by Close: a connection accepted meanwhile is dropped

	accepted, refused, resets atomic.Int64

	wg sync.WaitGroup
}

type pair struct{ client, server net.Conn }

func (p *pair) close() {
	_ = p.client.Close()
	_ = p.server.Close()
}

// Stats counts what the proxy did, for a drill's report.
type Stats struct {
	Accepted int64 // connections forwarded
	Refused  int64 // connections closed on arrival because the proxy was down
	Reset    int64 // open connections cut by Down or ResetAll
	Open     int   // connections open now
}

// Listen starts a proxy on listenAddr ("127.0.0.1:0" picks a free port)
// forwarding to upstream.
func Listen(listenAddr, upstream string) (*Proxy, error) {
	if upstream == "" {
		return nil, errors.New("faultproxy: empty upstream address")
	}
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen on %s: %w", listenAddr, err)
	}
	p := &Proxy{
		ln:       ln,
		upstream: upstream,
		dial:     func(network, addr string) (net.Conn, error) { return net.DialTimeout(network, addr, 5*time.Second) },
		conns:    map[*pair]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listening address (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Down cuts every open connection and makes new ones close on arrival, as
// a crashed or partitioned server looks to a client: the connection is
// accepted by the kernel, then dropped before any byte arrives.
func (p *Proxy) Down() {
	p.down.Store(true)
	p.ResetAll()
}

// Up lets connections through again.
func (p *Proxy) Up() { p.down.Store(false) }

// IsDown reports whether the proxy refuses connections.
func (p *Proxy) IsDown() bool { return p.down.Load() }

// SetLatency delays every forwarded chunk, in both directions, by d (0 for
// none). Negative durations are refused.
func (p *Proxy) SetLatency(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("faultproxy: negative latency %v", d)
	}
	p.latency.Store(int64(d))
	return nil
}

// ResetAll cuts every open connection; new ones are still accepted unless
// the proxy is down.
func (p *Proxy) ResetAll() {
	p.resets.Add(int64(p.cut(false)))
}

// cut closes every open connection (marking the proxy closed first if
// closing) and returns how many there were.
func (p *Proxy) cut(closing bool) int {
	p.mu.Lock()
	p.closed = p.closed || closing
	open := make([]*pair, 0, len(p.conns))
	for c := range p.conns {
		open = append(open, c)
	}
	p.mu.Unlock()
	for _, c := range open {
		c.close()
	}
	return len(open)
}

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	open := len(p.conns)
	p.mu.Unlock()
	return Stats{Accepted: p.accepted.Load(), Refused: p.refused.Load(), Reset: p.resets.Load(), Open: open}
}

// Close stops accepting, cuts every connection and waits for the proxy's
// goroutines to end.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.cut(true)
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // listener closed: Close is running
		}
		if p.down.Load() {
			p.refused.Add(1)
			_ = client.Close()
			continue
		}
		server, err := p.dial("tcp", p.upstream)
		if err != nil {
			// The upstream itself is unreachable: the client sees what it
			// would see without the proxy, a dropped connection.
			p.refused.Add(1)
			_ = client.Close()
			continue
		}
		c := &pair{client: client, server: server}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.close()
			return
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.accepted.Add(1)
		p.wg.Add(2)
		var once sync.Once
		done := func() {
			once.Do(func() {
				c.close()
				p.mu.Lock()
				delete(p.conns, c)
				p.mu.Unlock()
			})
		}
		go p.copy(c.server, c.client, done)
		go p.copy(c.client, c.server, done)
	}
}

// copy forwards src to dst until either side ends, then closes both, so
// the other direction's copier ends too.
func (p *Proxy) copy(dst, src net.Conn, done func()) {
	defer p.wg.Done()
	defer done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(p.latency.Load()); d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a cut connection: done() closes both sides
		}
	}
}
