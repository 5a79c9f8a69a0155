package rtc

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// session, peer connection and client must be fully freed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	aliceToken = "token-alice-0001"
	bobToken   = "token-bob-000002"
	carolToken = "token-carol-0003"
)

// loopbackNetwork gathers only on the loopback interface, IPv4: the tests
// must pass on a machine whose only interface is lo.
func loopbackNetwork(t *testing.T) Network {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 && i.Flags&net.FlagUp != 0 {
			return Network{IncludeLoopback: true, Interfaces: []string{i.Name}, IPv4Only: true}
		}
	}
	t.Skip("no loopback interface")
	return Network{}
}

func testConfig(t *testing.T) Config {
	return Config{
		Tokens:              map[string]string{aliceToken: "alice", bobToken: "bob", carolToken: "carol"},
		Network:             loopbackNetwork(t),
		MaxSessions:         8,
		MaxSessionsPerToken: 4,
		IdleTimeout:         5 * time.Second,
		EventsChannelWait:   200 * time.Millisecond,
		GatherTimeout:       2 * time.Second,
	}
}

// harness is a server behind httptest whose handler hands each session to
// the test and then waits for the session to end.
type harness struct {
	t        *testing.T
	srv      *Server
	http     *httptest.Server
	sessions chan *Session
	returned chan string // session ids whose handler returned
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, sessions: make(chan *Session, 16), returned: make(chan string, 16)}
	srv, err := NewServer(cfg, func(ctx context.Context, s *Session) {
		h.sessions <- s
		<-ctx.Done()
		h.returned <- s.ID()
	})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.http = httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("server close: %v", err)
		}
		h.http.Close()
	})
	return h
}

func (h *harness) url() string { return h.http.URL + WHIPPath }

func (h *harness) dial(token string, opts ClientOptions) (*Client, error) {
	h.t.Helper()
	opts.Network = loopbackNetwork(h.t)
	opts.ListenAddress = "127.0.0.1:0"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return Dial(ctx, h.url(), token, opts)
}

func (h *harness) mustDial(token string, opts ClientOptions) *Client {
	h.t.Helper()
	c, err := h.dial(token, opts)
	if err != nil {
		h.t.Fatalf("dial: %v", err)
	}
	h.t.Cleanup(func() { c.Abort() })
	return c
}

// nextSession returns the session the server started, once both ends are connected.
func (h *harness) nextSession() *Session {
	h.t.Helper()
	select {
	case s := <-h.sessions:
		eventually(h.t, 3*time.Second, "session connected", func() bool { return s.Stats().ConnectionState == "connected" })
		return s
	case <-time.After(3 * time.Second):
		h.t.Fatal("no session started")
		return nil
	}
}

func waitDone(t *testing.T, s *Session, within time.Duration) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(within):
		t.Fatalf("session %s still running after %s (state %s)", s.ID(), within, s.Stats().ConnectionState)
	}
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// payload i is recognisable: 4 bytes of i then filler.
func payload(i int) []byte {
	b := make([]byte, 40)
	binary.BigEndian.PutUint32(b, uint32(i))
	for j := 4; j < len(b); j++ {
		b[j] = byte(i + j)
	}
	return b
}

func payloadIndex(p []byte) int { return int(binary.BigEndian.Uint32(p)) }

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		mux       bool
		opts      ClientOptions
		wantCodec string
		wantClock uint32
	}{
		{"client opens events", false, ClientOptions{}, "audio/opus", 48000},
		{"server opens events", false, ClientOptions{ServerOpensEvents: true}, "audio/opus", 48000},
		{"PCMU microphone over one UDP mux port", true, ClientOptions{SendPCMU: true}, "audio/PCMU", 8000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			if tt.mux {
				cfg.UDPMuxAddress = "127.0.0.1:0"
			}
			h := newHarness(t, cfg)
			// Queued before the channel opens: must still arrive, in order.
			c := h.mustDial(aliceToken, tt.opts)
			s := h.nextSession()
			if s.UserID() != "alice" {
				t.Errorf("UserID = %q, want alice", s.UserID())
			}
			for i := range 5 {
				s.SendEvent([]byte(`{"n":` + string(rune('0'+i)) + `}`))
			}

			const n = 60
			for i := range n {
				if err := c.WriteAudio(payload(i), 20*time.Millisecond); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			codec, err := s.InboundCodec(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if codec.MimeType != tt.wantCodec || codec.ClockRate != tt.wantClock {
				t.Errorf("inbound codec %+v, want %s/%d", codec, tt.wantCodec, tt.wantClock)
			}
			var prev Packet
			for i := range n {
				p, err := s.ReadPacket(ctx)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if got := payloadIndex(p.Payload); got != i {
					t.Fatalf("packet %d carries payload %d", i, got)
				}
				if i > 0 {
					if p.SequenceNumber != prev.SequenceNumber+1 {
						t.Fatalf("packet %d: seq %d after %d", i, p.SequenceNumber, prev.SequenceNumber)
					}
					step := uint32(20 * tt.wantClock / 1000)
					if p.Timestamp-prev.Timestamp != step {
						t.Fatalf("packet %d: timestamp step %d, want %d", i, p.Timestamp-prev.Timestamp, step)
					}
					if p.Arrival.Before(prev.Arrival) {
						t.Fatalf("packet %d: arrival before previous", i)
					}
				}
				if i == 0 && !p.Marker {
					t.Error("first packet should carry the marker bit")
				}
				prev = p
			}

			// Assistant audio back to the caller.
			for i := range n {
				if err := s.WriteAudio(payload(1000+i), 20*time.Millisecond); err != nil {
					t.Fatal(err)
				}
			}
			prev = Packet{}
			for i := range n {
				p, err := c.ReadPacket(ctx)
				if err != nil {
					t.Fatalf("client packet %d: %v", i, err)
				}
				if got := payloadIndex(p.Payload); got != 1000+i {
					t.Fatalf("client packet %d carries payload %d", i, got)
				}
				if i > 0 && p.SequenceNumber != prev.SequenceNumber+1 {
					t.Fatalf("client packet %d: seq %d after %d", i, p.SequenceNumber, prev.SequenceNumber)
				}
				if i > 0 && p.Timestamp-prev.Timestamp != 960 {
					t.Fatalf("client packet %d: timestamp step %d, want 960", i, p.Timestamp-prev.Timestamp)
				}
				prev = p
			}

			for i := 5; i < 10; i++ {
				if !s.SendEvent([]byte(`{"n":` + string(rune('0'+i)) + `}`)) {
					t.Fatalf("event %d not queued", i)
				}
			}
			for i := range 10 {
				select {
				case m := <-c.Events():
					if want := `{"n":` + string(rune('0'+i)) + `}`; string(m) != want {
						t.Fatalf("event %d = %s, want %s", i, m, want)
					}
				case <-ctx.Done():
					t.Fatalf("event %d never arrived", i)
				}
			}

			st := s.Stats()
			if st.PacketsIn != n || st.PacketsOut != n || st.EventsSent != 10 || st.EventsDropped != 0 || st.PacketsInDropped != 0 {
				t.Errorf("session stats %+v", st)
			}
			if st.BytesIn != n*40 || st.ICEState != "connected" {
				t.Errorf("session stats %+v", st)
			}

			if err := c.Close(ctx); err != nil {
				t.Fatalf("client close: %v", err)
			}
			waitDone(t, s, 2*time.Second)
			if s.Reason() != "deleted by caller" {
				t.Errorf("reason %q, want deleted by caller", s.Reason())
			}
			if _, err := s.ReadPacket(ctx); !errors.Is(err, ErrClosed) {
				t.Errorf("ReadPacket after end: %v, want ErrClosed", err)
			}
			if err := s.WriteAudio(payload(0), 20*time.Millisecond); !errors.Is(err, ErrClosed) {
				t.Errorf("WriteAudio after end: %v, want ErrClosed", err)
			}
			if s.SendEvent([]byte("x")) {
				t.Error("SendEvent after end queued")
			}
			select {
			case id := <-h.returned:
				if id != s.ID() {
					t.Errorf("handler of %s returned, want %s", id, s.ID())
				}
			case <-time.After(2 * time.Second):
				t.Fatal("onSession did not return")
			}
			eventually(t, 2*time.Second, "session unregistered", func() bool { return h.srv.Len() == 0 })
		})
	}
}

// The client's loss and reordering must reach the server as such: sequence
// numbers stay attached to their payloads, some are missing, some arrive late.
func TestLossAndReorderReachServer(t *testing.T) {
	h := newHarness(t, testConfig(t))
	c := h.mustDial(aliceToken, ClientOptions{DropRate: 0.2, ReorderRate: 0.2, Seed: 7})
	s := h.nextSession()
	const n = 200
	for i := range n {
		if err := c.WriteAudio(payload(i), 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	sent := c.Stats().PacketsOut
	if sent >= n-20 || sent < n/2 {
		t.Fatalf("client sent %d of %d with 20%% loss", sent, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var base uint16
	seen := map[int]bool{}
	late := 0
	maxIdx := -1
	for got := uint64(0); got < sent; got++ {
		p, err := s.ReadPacket(ctx)
		if err != nil {
			t.Fatalf("after %d of %d packets: %v", got, sent, err)
		}
		i := payloadIndex(p.Payload)
		if got == 0 {
			base = p.SequenceNumber - uint16(i)
		}
		if p.SequenceNumber != base+uint16(i) {
			t.Fatalf("payload %d has seq %d, want %d", i, p.SequenceNumber, base+uint16(i))
		}
		if seen[i] {
			t.Fatalf("payload %d twice", i)
		}
		seen[i] = true
		if i < maxIdx {
			late++
		}
		maxIdx = max(maxIdx, i)
	}
	if len(seen) == n || late == 0 {
		t.Errorf("received %d of %d, %d late: want some lost and some reordered", len(seen), n, late)
	}
}

func TestSessionEnds(t *testing.T) {
	tests := []struct {
		name   string
		end    func(h *harness, c *Client, s *Session)
		reason string
	}{
		{"caller vanished: idle timeout", func(_ *harness, c *Client, _ *Session) { c.Vanish() }, "idle timeout"},
		{"caller closed the peer connection", func(_ *harness, c *Client, _ *Session) { c.Abort() }, "peer connection closed"},
		{"session handler closes", func(_ *harness, _ *Client, s *Session) { s.Close("model gone") }, "model gone"},
		{"server closes", func(h *harness, _ *Client, _ *Session) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if err := h.srv.Close(ctx); err != nil {
				h.t.Error(err)
			}
		}, "server closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.IdleTimeout = 400 * time.Millisecond
			h := newHarness(t, cfg)
			c := h.mustDial(aliceToken, ClientOptions{})
			s := h.nextSession()
			// Keep the session alive past the idle timeout while the caller talks.
			for range 25 {
				if err := c.WriteAudio(payload(0), 20*time.Millisecond); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if s.Context().Err() != nil {
				t.Fatalf("session ended while the caller was talking: %s", s.Reason())
			}
			tt.end(h, c, s)
			waitDone(t, s, 3*time.Second)
			if s.Reason() != tt.reason {
				t.Errorf("reason %q, want %q", s.Reason(), tt.reason)
			}
			var ended *EndedError
			if !errors.As(context.Cause(s.Context()), &ended) || ended.Reason != tt.reason {
				t.Errorf("context cause %v", context.Cause(s.Context()))
			}
			eventually(t, 2*time.Second, "session unregistered", func() bool { return h.srv.Len() == 0 })
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = c.Close(ctx)
		})
	}
}

func TestServerRefusesAfterClose(t *testing.T) {
	h := newHarness(t, testConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := h.dial(aliceToken, ClientOptions{})
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable || he.RetryAfter == "" {
		t.Fatalf("dial after close: %v, want 503 with Retry-After", err)
	}
}

func TestLimits(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxSessions = 2
	cfg.MaxSessionsPerToken = 1
	cfg.RetryAfter = 3 * time.Second
	h := newHarness(t, cfg)

	alice := h.mustDial(aliceToken, ClientOptions{})
	s := h.nextSession()
	tooMany := func(token, why string) {
		t.Helper()
		_, err := h.dial(token, ClientOptions{})
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusTooManyRequests || he.Code != "too_many_sessions" || he.RetryAfter != "3" {
			t.Fatalf("%s: dial err %v, want 429 too_many_sessions Retry-After 3", why, err)
		}
	}
	tooMany(aliceToken, "per token")
	h.mustDial(bobToken, ClientOptions{})
	h.nextSession()
	tooMany(carolToken, "total")

	// A slot frees once the session has ended.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := alice.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitDone(t, s, 2*time.Second)
	eventually(t, 2*time.Second, "slot released", func() bool { return h.srv.Len() == 1 })
	h.mustDial(carolToken, ClientOptions{})
	h.nextSession()
}
