package rtc

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
	"go.uber.org/zap"
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
func loopbackNetwork(t testing.TB) Network {
	t.Helper()
	n, err := LoopbackNetwork()
	if errors.Is(err, ErrNoLoopback) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func testConfig(t testing.TB) Config {
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
		network   func(*Network)
		opts      ClientOptions
		wantCodec string
		wantClock uint32
	}{
		{"client opens events", nil, ClientOptions{}, "audio/opus", 48000},
		{"server opens events, UDP port range", func(n *Network) { n.UDPPortMin, n.UDPPortMax = 42000, 42999 },
			ClientOptions{ServerOpensEvents: true}, "audio/opus", 48000},
		{"PCMU microphone, one UDP mux port", func(n *Network) { n.UDPMuxAddress = "127.0.0.1:0" },
			ClientOptions{SendPCMU: true}, "audio/PCMU", 8000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			if tt.network != nil {
				tt.network(&cfg.Network)
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

			// And the caller's messages the other way.
			for i := range 3 {
				if err := c.SendEvent([]byte(`{"cmd":"interrupt","i":` + strconv.Itoa(i) + `}`)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 3 {
				m, err := s.ReadMessage(ctx)
				if want := `{"cmd":"interrupt","i":` + strconv.Itoa(i) + `}`; err != nil || string(m) != want {
					t.Fatalf("message %d = %s, %v; want %s", i, m, err, want)
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
		cfg    func(*Config)
		end    func(h *harness, c *Client, s *Session)
		reason string
	}{
		{"caller vanished: idle timeout", func(c *Config) { c.IdleTimeout = 500 * time.Millisecond }, func(_ *harness, c *Client, _ *Session) { c.Vanish() }, "idle timeout"},
		{"caller vanished: ICE disconnected beyond the grace", func(c *Config) {
			c.IdleTimeout, c.ICEDisconnectedTimeout, c.DisconnectGrace = time.Minute, 300*time.Millisecond, 200*time.Millisecond
		}, func(_ *harness, c *Client, _ *Session) { c.Vanish() }, "ice disconnected"},
		{"caller closed the peer connection", nil, func(_ *harness, c *Client, _ *Session) { c.Abort() }, "peer connection closed"},
		{"session handler closes", nil, func(_ *harness, _ *Client, s *Session) { s.Close("model gone") }, "model gone"},
		{"server closes", nil, func(h *harness, _ *Client, _ *Session) {
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
			// Only the trigger under test may end the session.
			cfg.IdleTimeout, cfg.DisconnectGrace = time.Minute, time.Minute
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			h := newHarness(t, cfg)
			c := h.mustDial(aliceToken, ClientOptions{})
			s := h.nextSession()
			// Talk for longer than the idle timeout: talking keeps the session.
			talk := 5
			if cfg.IdleTimeout < time.Second {
				talk = 35
			}
			for range talk {
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

	// DELETE answers once the slot is free: the caller may reconnect at once.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := alice.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("DELETE answered before the session was freed")
	}
	h.mustDial(aliceToken, ClientOptions{})
	h.nextSession()
	tooMany(carolToken, "total again")
}

// makeOffer builds a real Pion offer (no candidates needed: these offers
// never get as far as ICE).
func makeOffer(t *testing.T, audio, data bool) string {
	t.Helper()
	api, closeMux, err := newAPI(loopbackNetwork(t), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = closeMux() }()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	if audio {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	if data {
		if _, err := pc.CreateDataChannel("x", nil); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

const pcmuOnlyOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"

// Parses and offers Opus, but has no ICE credentials or DTLS fingerprint:
// only Pion's SetRemoteDescription can refuse it.
const opusWithoutICEOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\na=sendrecv\r\n"

func TestBadRequests(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxSessions, cfg.MaxSessionsPerToken = 2, 1
	h := newHarness(t, cfg)
	good := makeOffer(t, true, true)
	noAudio := makeOffer(t, false, true)
	rejectedAudio := strings.Replace(good, "m=audio 9 ", "m=audio 0 ", 1)
	if rejectedAudio == good {
		t.Fatal("offer has no m=audio 9 line to reject")
	}

	// A live session of bob's, to prove other tokens cannot see or end it.
	bob := h.mustDial(bobToken, ClientOptions{})
	bobSession := h.nextSession()
	bobPath := WHIPPath + "/" + bobSession.ID()
	// Let bob's session finish starting (data channel open) so that its
	// goroutines are not mistaken for leaks below.
	bobSession.SendEvent([]byte("{}"))
	select {
	case <-bob.Events():
	case <-time.After(2 * time.Second):
		t.Fatal("bob's events channel never opened")
	}

	tests := []struct {
		name        string
		method      string
		path        string
		auth        string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"no token", "POST", WHIPPath, "", "application/sdp", good, 401, "unauthorized"},
		{"not a bearer token", "POST", WHIPPath, "Basic " + aliceToken, "application/sdp", good, 401, "unauthorized"},
		{"wrong token", "POST", WHIPPath, "Bearer token-mallory-99", "application/sdp", good, 401, "unauthorized"},
		{"not SDP", "POST", WHIPPath, "Bearer " + aliceToken, "application/json", `{"sdp":"x"}`, 415, "unsupported_media_type"},
		{"no content type", "POST", WHIPPath, "Bearer " + aliceToken, "", good, 415, "unsupported_media_type"},
		{"offer over 64 KiB", "POST", WHIPPath, "Bearer " + aliceToken, "application/sdp", good + strings.Repeat("a=x-pad:0123456789\r\n", 4000), 413, "payload_too_large"},
		{"offer over 64 KiB, chunked", "POST", WHIPPath, "Bearer " + aliceToken, "application/sdp", "chunked:" + good + strings.Repeat("a=x-pad:0123456789\r\n", 4000), 413, "payload_too_large"},
		{"unparsable offer", "POST", WHIPPath, "Bearer " + aliceToken, "application/sdp", "hello", 400, "bad_offer"},
		{"no audio m-line", "POST", WHIPPath, "Bearer " + aliceToken, "application/sdp", noAudio, 400, "bad_offer"},
		{"audio m-line rejected", "POST", WHIPPath, "Bearer " + aliceToken, "application/sdp", rejectedAudio, 400, "bad_offer"},
		{"audio without opus", "POST", WHIPPath, "Bearer " + aliceToken, "application/sdp", pcmuOnlyOffer, 400, "bad_offer"},
		{"offer Pion refuses", "POST", WHIPPath, "Bearer " + aliceToken, "application/sdp; charset=utf-8", opusWithoutICEOffer, 400, "bad_offer"},
		{"over the per-token limit", "POST", WHIPPath, "Bearer " + bobToken, "application/sdp", good, 429, "too_many_sessions"},
		{"GET on the endpoint", "GET", WHIPPath, "Bearer " + aliceToken, "", "", 405, "method_not_allowed"},
		{"PATCH (trickle) on a session", "PATCH", bobPath, "Bearer " + bobToken, "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n", 405, "method_not_allowed"},
		{"GET an unknown session", "GET", WHIPPath + "/nope", "Bearer " + aliceToken, "", "", 404, "not_found"},
		{"DELETE an unknown session", "DELETE", WHIPPath + "/nope", "Bearer " + aliceToken, "", "", 404, "not_found"},
		{"DELETE another token's session", "DELETE", bobPath, "Bearer " + aliceToken, "", "", 404, "not_found"},
		{"GET another token's session", "GET", bobPath, "Bearer " + aliceToken, "", "", 404, "not_found"},
		{"DELETE without a token", "DELETE", bobPath, "", "", "", 401, "unauthorized"},
		{"outside the endpoint", "GET", "/other", "Bearer " + aliceToken, "", "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			var body io.Reader = strings.NewReader(tt.body)
			if rest, ok := strings.CutPrefix(tt.body, "chunked:"); ok {
				body = io.MultiReader(strings.NewReader(rest)) // hides the length
			}
			req, err := http.NewRequest(tt.method, h.http.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Close = true
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb errorBody
			if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
				t.Fatalf("body is not the JSON error: %v", err)
			}
			if resp.StatusCode != tt.status || eb.Error != tt.code || eb.Message == "" {
				t.Fatalf("got %d %+v, want %d %s with a message", resp.StatusCode, eb, tt.status, tt.code)
			}
			switch tt.status {
			case 401:
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
				}
			case 429:
				if resp.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
			case 405:
				if resp.Header.Get("Allow") == "" {
					t.Error("405 without Allow")
				}
			}
			// Nothing left behind: only bob's session, no reserved slots, no goroutines.
			h.srv.mu.Lock()
			pending, tokens, live := h.srv.pending, len(h.srv.perToken), len(h.srv.sessions)
			h.srv.mu.Unlock()
			if pending != 0 || tokens != 1 || live != 1 {
				t.Errorf("after refusal: pending %d, tokens %d, sessions %d; want 0, 1, 1", pending, tokens, live)
			}
			if bobSession.Context().Err() != nil {
				t.Errorf("bob's session ended: %s", bobSession.Reason())
			}
			http.DefaultClient.CloseIdleConnections()
			// netctx runs one helper goroutine per in-flight DTLS read of
			// bob's live connection; they come and go with each read. net/http
			// lingers 500 ms on a connection it closed for an oversized body.
			goleak.VerifyNone(t, before,
				goleak.IgnoreTopFunction("github.com/pion/transport/v5/netctx.(*packetConn).ReadFromContext.func1"),
				goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := bob.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitDone(t, bobSession, 2*time.Second)
}

func TestSnapshot(t *testing.T) {
	h := newHarness(t, testConfig(t))
	c := h.mustDial(aliceToken, ClientOptions{})
	s := h.nextSession()
	get := func() (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("GET", c.Location(), nil)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode == 200 && ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		return resp.StatusCode, m
	}
	if !strings.HasSuffix(c.Location(), WHIPPath+"/"+s.ID()) {
		t.Fatalf("Location %q does not name session %s", c.Location(), s.ID())
	}
	status, m := get()
	if status != 200 || m["id"] != s.ID() || m["userId"] != "alice" || m["stats"] == nil {
		t.Fatalf("default snapshot: %d %v", status, m)
	}
	s.SetSnapshot(func() any { return map[string]any{"turns": 3, "state": "listening"} })
	status, m = get()
	if status != 200 || m["turns"] != float64(3) || m["state"] != "listening" {
		t.Fatalf("handler snapshot: %d %v", status, m)
	}
	s.SetSnapshot(func() any { return func() {} }) // cannot be JSON
	if status, m = get(); status != 500 || m["error"] != "internal" {
		t.Fatalf("unmarshalable snapshot: %d %v", status, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitDone(t, s, 2*time.Second)
	eventually(t, 2*time.Second, "session gone", func() bool { return h.srv.Len() == 0 })
	if status, _ = get(); status != 404 {
		t.Fatalf("snapshot of an ended session: %d, want 404", status)
	}
}

func TestSendEventNeverBlocks(t *testing.T) {
	cfg := testConfig(t)
	cfg.EventQueue = 4
	h := newHarness(t, cfg)
	// A caller whose offer has no data section: the events channel never
	// opens, so the queue fills and the rest is dropped, without blocking.
	c := h.mustDial(aliceToken, ClientOptions{NoDataChannel: true})
	s := h.nextSession()
	start := time.Now()
	queued := 0
	for range 1000 {
		if s.SendEvent(make([]byte, 1000)) {
			queued++
		}
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("1000 SendEvent calls took %s", d)
	}
	st := s.Stats()
	if queued != 4 || st.EventsDropped != 996 || st.EventsSent != 0 {
		t.Errorf("queued %d, stats %+v; want 4 queued, 996 dropped, 0 sent", queued, st)
	}
	if s.SendEvent(nil) || s.SendEvent(make([]byte, maxEventBytes+1)) {
		t.Error("empty or oversized event queued")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.Close(ctx)
	waitDone(t, s, 2*time.Second)
}

func TestConfigErrorsNameTheField(t *testing.T) {
	base := func() Config {
		return Config{Tokens: map[string]string{aliceToken: "alice"}}
	}
	tests := []struct {
		field  string
		change func(*Config)
	}{
		{"Tokens", func(c *Config) { c.Tokens = nil }},
		{"Tokens", func(c *Config) { c.Tokens = map[string]string{"short": "u"} }},
		{"Tokens", func(c *Config) { c.Tokens = map[string]string{aliceToken: ""} }},
		{"MaxSessions", func(c *Config) { c.MaxSessions = -1 }},
		{"MaxSessionsPerToken", func(c *Config) { c.MaxSessions, c.MaxSessionsPerToken = 2, 3 }},
		{"IdleTimeout", func(c *Config) { c.IdleTimeout = time.Millisecond }},
		{"GatherTimeout", func(c *Config) { c.GatherTimeout = 2 * time.Minute }},
		{"RetryAfter", func(c *Config) { c.RetryAfter = time.Millisecond }},
		{"EventQueue", func(c *Config) { c.EventQueue = -3 }},
		{"PacketQueue", func(c *Config) { c.PacketQueue = 1 << 20 }},
		{"PublicIPs", func(c *Config) { c.PublicIPs = []string{"example.org"} }},
		{"UDPPortMin/UDPPortMax", func(c *Config) { c.UDPPortMin = 5000 }},
		{"UDPPortMin/UDPPortMax", func(c *Config) { c.UDPPortMin, c.UDPPortMax = 6000, 5000 }},
		{"UDPMuxAddress", func(c *Config) { c.UDPPortMin, c.UDPPortMax, c.UDPMuxAddress = 5000, 6000, ":7000" }},
		{"UDPMuxAddress", func(c *Config) { c.UDPMuxAddress = "no-port" }},
		{"ICEServers[0].URLs", func(c *Config) { c.ICEServers = []ICEServer{{URLs: []string{"http://stun"}}} }},
		{"ICEServers[0].URLs", func(c *Config) { c.ICEServers = []ICEServer{{}} }},
	}
	for _, tt := range tests {
		cfg := base()
		tt.change(&cfg)
		_, err := NewServer(cfg, func(context.Context, *Session) {})
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tt.field {
			t.Errorf("want a ConfigError on %s, got %v", tt.field, err)
		}
	}
	if _, err := NewServer(base(), nil); err == nil {
		t.Error("nil session handler accepted")
	}
	srv, err := NewServer(base(), func(context.Context, *Session) {})
	if err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	if err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestDialRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		url  string
		opts ClientOptions
	}{
		{"not a URL", "::", ClientOptions{}},
		{"not http", "ftp://x/whip", ClientOptions{}},
		{"drop everything", "http://127.0.0.1:1/whip", ClientOptions{DropRate: 1}},
		{"negative reorder", "http://127.0.0.1:1/whip", ClientOptions{ReorderRate: -0.1}},
		{"port range", "http://127.0.0.1:1/whip", ClientOptions{Network: Network{UDPPortMin: 1, UDPPortMax: 2}}},
		{"nothing listening", "http://127.0.0.1:1/whip", ClientOptions{ListenAddress: "127.0.0.1:0"}},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c, err := Dial(ctx, tt.url, aliceToken, tt.opts)
		cancel()
		if err == nil {
			c.Abort()
			t.Errorf("%s: dial succeeded", tt.name)
		}
	}
}

// The WHIP answer itself: 201, SDP, Location, and host candidates rewritten
// to the configured public IP (NAT 1:1).
func TestAnswerContract(t *testing.T) {
	cfg := testConfig(t)
	cfg.PublicIPs = []string{"203.0.113.7"}
	cfg.UDPPortMin, cfg.UDPPortMax = 43000, 43999
	h := newHarness(t, cfg)
	req, _ := http.NewRequest("POST", h.url(), strings.NewReader(makeOffer(t, true, false)))
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || resp.Header.Get("Content-Type") != "application/sdp" {
		t.Fatalf("got %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), answer)
	}
	s := <-h.sessions
	if loc := resp.Header.Get("Location"); loc != WHIPPath+"/"+s.ID() {
		t.Errorf("Location %q, want %s/%s", loc, WHIPPath, s.ID())
	}
	sdpText := string(answer)
	for _, want := range []string{"a=candidate:", " 203.0.113.7 ", "a=end-of-candidates", "opus/48000/2", "minptime=10;useinbandfec=1", "a=sendrecv"} {
		if !strings.Contains(sdpText, want) {
			t.Errorf("answer lacks %q:\n%s", want, sdpText)
		}
	}
	for _, line := range strings.Split(sdpText, "\r\n") {
		if f := strings.Fields(line); strings.HasPrefix(line, "a=candidate:") && len(f) > 5 {
			if port, _ := strconv.Atoi(f[5]); port < 43000 || port > 43999 {
				t.Errorf("candidate outside the UDP port range: %s", line)
			}
		}
	}
	if strings.Contains(sdpText, " 127.0.0.1 ") {
		t.Errorf("answer still advertises the private address:\n%s", sdpText)
	}
	req, _ = http.NewRequest("DELETE", h.http.URL+resp.Header.Get("Location"), nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	waitDone(t, s, 2*time.Second)
	if s.Reason() != "deleted by caller" {
		t.Errorf("reason %q", s.Reason())
	}
}

// Several callers at once, each served by an echoing handler: every caller
// gets its own audio back, in order, and everything is freed afterwards.
func TestManyCallersEcho(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxSessions, cfg.MaxSessionsPerToken = 8, 8
	srv, err := NewServer(cfg, func(ctx context.Context, s *Session) {
		for {
			p, err := s.ReadPacket(ctx)
			if err != nil {
				return
			}
			if err := s.WriteAudio(p.Payload, 20*time.Millisecond); err != nil {
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	const callers, n = 6, 50
	errs := make(chan error, callers)
	for k := range callers {
		go func() {
			errs <- func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				c, err := Dial(ctx, hs.URL+WHIPPath, aliceToken, ClientOptions{Network: loopbackNetwork(t), ListenAddress: "127.0.0.1:0"})
				if err != nil {
					return err
				}
				defer c.Close(ctx)
				// The server side may finish DTLS a moment after the client.
				var first Packet
				for first.Payload == nil {
					if err := c.WriteAudio(payload(k*1000), 20*time.Millisecond); err != nil {
						return err
					}
					rctx, rcancel := context.WithTimeout(ctx, 100*time.Millisecond)
					first, _ = c.ReadPacket(rctx)
					rcancel()
				}
				for i := 1; i <= n; i++ {
					if err := c.WriteAudio(payload(k*1000+i), 20*time.Millisecond); err != nil {
						return err
					}
				}
				for got := 0; got < n; {
					p, err := c.ReadPacket(ctx)
					if err != nil {
						return fmt.Errorf("caller %d after %d echoes: %w", k, got, err)
					}
					idx := payloadIndex(p.Payload)
					if idx/1000 != k {
						return fmt.Errorf("caller %d got caller %d's audio", k, idx/1000)
					}
					if idx%1000 == 0 {
						continue // a retried first packet
					}
					got++
					if idx%1000 != got {
						return fmt.Errorf("caller %d: echo %d carries %d", k, got, idx%1000)
					}
				}
				return nil
			}()
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	eventually(t, 3*time.Second, "all sessions deleted", func() bool { return srv.Len() == 0 })
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkEcho measures one 20 ms Opus-sized packet caller -> server ->
// caller over loopback through a handler that writes every packet back.
func BenchmarkEcho(b *testing.B) {
	cfg := testConfig(b)
	srv, err := NewServer(cfg, func(ctx context.Context, s *Session) {
		for {
			p, err := s.ReadPacket(ctx)
			if err != nil {
				return
			}
			_ = s.WriteAudio(p.Payload, 20*time.Millisecond)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	defer func() { _ = srv.Close(ctx) }()
	c, err := Dial(ctx, hs.URL+WHIPPath, aliceToken, ClientOptions{Network: cfg.Network, ListenAddress: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	buf := make([]byte, 80) // about a 32 kbit/s Opus frame
	// Wait until the echo path is up.
	for {
		_ = c.WriteAudio(buf, 20*time.Millisecond)
		rctx, rcancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := c.ReadPacket(rctx)
		rcancel()
		if err == nil {
			break
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := c.WriteAudio(buf, 20*time.Millisecond); err != nil {
			b.Fatal(err)
		}
		if _, err := c.ReadPacket(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
