package rtc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"
)

// ClientOptions configure Dial. The zero value dials from all interfaces,
// sends Opus, opens the "events" channel itself and loses nothing.
type ClientOptions struct {
	// Network: PublicIPs, UDPPortMin/Max and UDPMuxAddress are not for clients.
	Network
	// ListenAddress is the local UDP socket all ICE traffic uses
	// (default ":0"; tests use "127.0.0.1:0").
	ListenAddress string
	// HTTPClient posts the offer and deletes the session (default: a client
	// with a 10 s timeout).
	HTTPClient *http.Client
	// SendPCMU sends the microphone as PCMU instead of Opus.
	SendPCMU bool
	// ServerOpensEvents makes the client open a "control" data channel (so the
	// offer has a data section) and wait for the server's "events" channel.
	ServerOpensEvents bool
	// NoDataChannel offers no data section at all: the server cannot open
	// "events" and drops what the session sends.
	NoDataChannel bool
	// DropRate (0..1) of WriteAudio packets silently not sent; ReorderRate
	// (0..1) of packets held back and sent after the next one. Sequence
	// numbers advance as if nothing happened. Seed makes both repeatable.
	DropRate, ReorderRate float64
	Seed                  uint64
	// GatherTimeout bounds ICE gathering before the offer is posted (default 3 s).
	GatherTimeout time.Duration
	// QueueSize bounds received packets and events not yet read (default 256).
	QueueSize int
	Logger    *zap.Logger
}

// Client is a WHIP caller with one sendrecv audio track and the events
// channel. Its methods are safe for concurrent use.
type Client struct {
	conn     *blackholeConn
	closeMux func() error
	pc       *webrtc.PeerConnection
	track    *webrtc.TrackLocalStaticRTP
	http     *http.Client
	token    string
	location string
	clock    uint32

	ctx    context.Context
	cancel context.CancelFunc

	packets chan Packet
	events  chan []byte
	stats   counters
	evIn    atomic.Uint64 // events received
	evLost  atomic.Uint64 // events dropped because Events() was not read

	// Outbound RTP state.
	wmu       sync.Mutex
	seq       uint16
	ts        uint32
	first     bool
	held      *rtp.Packet
	rng       *rand.Rand
	drop, reo float64

	mu        sync.Mutex
	closing   bool
	dc        *webrtc.DataChannel // the events channel
	connected chan struct{}
	connOnce  sync.Once
	failed    chan struct{}
	failOnce  sync.Once
	wg        sync.WaitGroup
	deleted   atomic.Bool
	vanished  atomic.Bool
}

// Dial offers a session to the WHIP endpoint at whipURL with token, applies
// the answer and waits, bounded by ctx, until the peer connection is up.
// On error nothing is left behind (a session already created is deleted).
func Dial(ctx context.Context, whipURL, token string, opts ClientOptions) (*Client, error) {
	if opts.ListenAddress == "" {
		opts.ListenAddress = ":0" // all interfaces, IPv4 and IPv6 (udp4 if IPv4Only)
	}
	if opts.GatherTimeout <= 0 {
		opts.GatherTimeout = DefaultGatherTimeout
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultPacketQueue
	}
	switch {
	case opts.QueueSize > 1<<16:
		return nil, &ConfigError{"QueueSize", "want at most 65536"}
	case opts.DropRate < 0 || opts.DropRate >= 1:
		return nil, &ConfigError{"DropRate", "want 0 <= DropRate < 1"}
	case opts.ReorderRate < 0 || opts.ReorderRate > 1:
		return nil, &ConfigError{"ReorderRate", "want 0 <= ReorderRate <= 1"}
	case opts.UDPPortMin != 0 || opts.UDPMuxAddress != "" || len(opts.PublicIPs) > 0:
		return nil, &ConfigError{"Network", "a client uses its one ListenAddress socket: no port range, mux or public IPs"}
	}
	if err := opts.Network.validate(""); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if u, err := url.Parse(whipURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("rtc: WHIP URL %q: want http(s)://host/path", whipURL)
	}

	// One socket the client owns carries all ICE traffic, so that Vanish can
	// silence it without telling the server.
	network := "udp"
	if opts.IPv4Only {
		network = "udp4"
	}
	laddr, err := net.ResolveUDPAddr(network, opts.ListenAddress)
	if err != nil {
		return nil, &ConfigError{"ListenAddress", err.Error()}
	}
	udp, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, fmt.Errorf("rtc: listen %s: %w", opts.ListenAddress, err)
	}
	conn := &blackholeConn{conn: udp}
	api, closeMux, err := newAPI(opts.Network, opts.Logger, conn)
	if err != nil {
		_ = udp.Close()
		return nil, err
	}
	codec := opusCodec
	if opts.SendPCMU {
		codec = pcmuCodec
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		conn: conn, closeMux: closeMux, http: opts.HTTPClient, token: token, clock: codec.ClockRate,
		ctx: cctx, cancel: cancel,
		packets: make(chan Packet, opts.QueueSize), events: make(chan []byte, opts.QueueSize),
		first: true, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		drop: opts.DropRate, reo: opts.ReorderRate,
		seq: uint16(rand.Uint32()), ts: rand.Uint32(),
		connected: make(chan struct{}), failed: make(chan struct{}),
	}
	if err := c.setup(ctx, api, whipURL, codec, opts); err != nil {
		if c.location != "" {
			dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = c.sendDelete(dctx)
			dcancel()
		}
		c.shutdown()
		return nil, err
	}
	return c, nil
}

func (c *Client) setup(ctx context.Context, api *webrtc.API, whipURL string, codec webrtc.RTPCodecCapability, opts ClientOptions) error {
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: opts.iceServers()})
	if err != nil {
		return fmt.Errorf("rtc: new peer connection: %w", err)
	}
	c.pc = pc
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			c.connOnce.Do(func() { close(c.connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			c.failOnce.Do(func() { close(c.failed) })
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		c.runTracked(func() { pumpTrack(t, t.Kind() == webrtc.RTPCodecTypeAudio, c.packets, &c.stats, c.ctx.Done()) })
	})
	track, err := webrtc.NewTrackLocalStaticRTP(codec, "audio", "rtc-client")
	if err != nil {
		return fmt.Errorf("rtc: client track: %w", err)
	}
	c.track = track
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		return fmt.Errorf("rtc: add audio transceiver: %w", err)
	}
	sender := tr.Sender()
	c.goTracked(func() { readRTCP(sender) })

	onEvents := func(dc *webrtc.DataChannel) {
		// Pion fires OnOpen on a goroutine of its own, possibly after the
		// first message; SendEvent checks the ready state instead.
		c.mu.Lock()
		c.dc = dc
		c.mu.Unlock()
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			c.evIn.Add(1)
			select {
			case c.events <- m.Data:
			default:
				c.evLost.Add(1)
			}
		})
	}
	switch {
	case opts.NoDataChannel:
	case opts.ServerOpensEvents:
		if _, err := pc.CreateDataChannel("control", nil); err != nil {
			return fmt.Errorf("rtc: control data channel: %w", err)
		}
		pc.OnDataChannel(func(dc *webrtc.DataChannel) {
			if dc.Label() == EventsLabel {
				onEvents(dc)
			}
		})
	default:
		dc, err := pc.CreateDataChannel(EventsLabel, nil)
		if err != nil {
			return fmt.Errorf("rtc: events data channel: %w", err)
		}
		onEvents(dc)
	}

	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("rtc: create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("rtc: set offer: %w", err)
	}
	timer := time.NewTimer(opts.GatherTimeout)
	defer timer.Stop()
	select {
	case <-gathered:
	case <-timer.C:
	case <-ctx.Done():
		return fmt.Errorf("rtc: ICE gathering: %w", ctx.Err())
	}

	answer, err := c.post(ctx, whipURL, pc.LocalDescription().SDP)
	if err != nil {
		return err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("rtc: apply answer: %w", err)
	}
	select {
	case <-c.connected:
		return nil
	case <-c.failed:
		return errors.New("rtc: peer connection failed")
	case <-ctx.Done():
		return fmt.Errorf("rtc: waiting for the connection: %w", ctx.Err())
	}
}

// HTTPError is a non-success WHIP answer.
type HTTPError struct {
	Status     int
	Code       string // the JSON body's "error", if any
	Message    string
	RetryAfter string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("rtc: WHIP answered %d %s: %s", e.Status, e.Code, e.Message)
}

// maxAnswerBytes bounds the answer the client reads: the most any server
// would accept as an offer.
const maxAnswerBytes = MaxOfferBytesCeiling

func (c *Client) post(ctx context.Context, whipURL, offer string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, whipURL, bytes.NewBufferString(offer))
	if err != nil {
		return "", fmt.Errorf("rtc: offer request: %w", err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("rtc: post offer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return "", fmt.Errorf("rtc: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return "", decodeHTTPError(resp, body)
	}
	if len(body) > maxAnswerBytes {
		return "", errors.New("rtc: answer too large")
	}
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("rtc: answer without a usable Location: %w", err)
	}
	c.location = loc.String()
	return string(body), nil
}

func decodeHTTPError(resp *http.Response, body []byte) error {
	e := &HTTPError{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	var eb errorBody
	if jsonErr := json.Unmarshal(body, &eb); jsonErr == nil {
		e.Code, e.Message = eb.Error, eb.Message
	} else {
		e.Message = string(body)
	}
	return e
}

// SendEvent sends msg to the server on the events channel. It fails when
// the channel is not open (yet).
func (c *Client) SendEvent(msg []byte) error {
	if len(msg) == 0 || len(msg) > maxEventBytes {
		return fmt.Errorf("rtc: event of %d bytes, want 1..%d", len(msg), maxEventBytes)
	}
	c.mu.Lock()
	dc := c.dc
	c.mu.Unlock()
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
		return errors.New("rtc: events channel not open")
	}
	if err := dc.Send(msg); err != nil {
		return fmt.Errorf("rtc: send event: %w", err)
	}
	return nil
}

// Location is the session's WHIP resource URL.
func (c *Client) Location() string { return c.location }

// WriteAudio sends one encoded packet of duration as the next RTP packet,
// applying the configured loss and reordering. payload is not retained.
func (c *Client) WriteAudio(payload []byte, duration time.Duration) error {
	if err := checkAudio(payload, duration); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: c.seq, Timestamp: c.ts, Marker: c.first},
		Payload: append([]byte(nil), payload...)}
	c.seq++
	c.ts += uint32(duration.Seconds() * float64(c.clock))
	c.first = false
	if c.drop > 0 && c.rng.Float64() < c.drop {
		return nil
	}
	if c.held != nil {
		held := c.held
		c.held = nil
		if err := c.writeRTP(p); err != nil {
			return err
		}
		return c.writeRTP(held)
	}
	if c.reo > 0 && c.rng.Float64() < c.reo {
		c.held = p
		return nil
	}
	return c.writeRTP(p)
}

// WritePacket sends p's fields as one RTP packet exactly as given (no loss
// or reordering); SSRC and payload type are the track's.
func (c *Client) WritePacket(p Packet) error {
	if len(p.Payload) == 0 || len(p.Payload) > maxAudioPayload {
		return fmt.Errorf("%w: payload %d bytes", ErrInvalidAudio, len(p.Payload))
	}
	return c.writeRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: p.SequenceNumber,
		Timestamp: p.Timestamp, Marker: p.Marker}, Payload: p.Payload})
}

func (c *Client) writeRTP(p *rtp.Packet) error {
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	if err := c.track.WriteRTP(p); err != nil {
		if c.ctx.Err() != nil {
			return ErrClosed
		}
		return fmt.Errorf("rtc: client write: %w", err)
	}
	c.stats.packetsOut.Add(1)
	c.stats.bytesOut.Add(uint64(len(p.Payload)))
	return nil
}

// ReadPacket returns the next RTP packet of the server's (assistant) audio.
func (c *Client) ReadPacket(ctx context.Context) (Packet, error) {
	select {
	case p := <-c.packets:
		return p, nil
	case <-ctx.Done():
		return Packet{}, ctx.Err()
	case <-c.ctx.Done():
		return Packet{}, ErrClosed
	}
}

// Events delivers the messages received on the events channel. The channel
// is never closed; select on it together with a context. Messages arriving
// while QueueSize are unread are dropped (see Stats().EventsDropped).
func (c *Client) Events() <-chan []byte { return c.events }

// Stats: PacketsIn/BytesIn are the server's audio, PacketsOut/BytesOut what
// this client sent, EventsSent counts events received, EventsDropped those
// lost because Events() was not read.
func (c *Client) Stats() Stats {
	st := c.stats.snapshot()
	st.EventsSent, st.EventsDropped = c.evIn.Load(), c.evLost.Load()
	st.ICEState = c.pc.ICEConnectionState().String()
	st.ConnectionState = c.pc.ConnectionState().String()
	return st
}

// Vanish silences the client's network without telling anyone: no DELETE,
// no DTLS close, no ICE keepalives. The server sees a caller that vanished.
// Call Close or Abort afterwards to free the client's own resources.
func (c *Client) Vanish() { c.vanished.Store(true); c.conn.silent.Store(true) }

// Abort closes the peer connection without DELETE: the server learns of it
// from DTLS close (unless the client vanished first).
func (c *Client) Abort() { c.shutdown() }

// Close deletes the WHIP session (unless the client vanished) and frees the
// client. A DELETE failure is returned after the local teardown.
func (c *Client) Close(ctx context.Context) error {
	var err error
	if !c.vanished.Load() {
		err = c.sendDelete(ctx)
	}
	c.shutdown()
	return err
}

func (c *Client) sendDelete(ctx context.Context) error {
	if c.location == "" || c.deleted.Swap(true) {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.location, nil)
	if err != nil {
		return fmt.Errorf("rtc: delete request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("rtc: delete session: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNoContent, http.StatusNotFound: // already gone is fine
		return nil
	}
	return decodeHTTPError(resp, body)
}

func (c *Client) shutdown() {
	c.mu.Lock()
	already := c.closing
	c.closing = true
	c.mu.Unlock()
	if already {
		c.wg.Wait()
		return
	}
	c.cancel()
	if c.pc != nil {
		_ = c.pc.Close()
	}
	c.wg.Wait()
	_ = c.closeMux()
}

func (c *Client) goTracked(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

func (c *Client) runTracked(f func()) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	f()
}

// blackholeConn is the client's ICE socket; once silent it swallows every
// datagram in both directions, as if the caller's network had gone.
type blackholeConn struct {
	conn   *net.UDPConn
	silent atomic.Bool
}

func (b *blackholeConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := b.conn.ReadFrom(p)
		if err != nil || !b.silent.Load() {
			return n, addr, err
		}
	}
}

func (b *blackholeConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if b.silent.Load() {
		return len(p), nil
	}
	return b.conn.WriteTo(p, addr)
}

func (b *blackholeConn) Close() error                       { return b.conn.Close() }
func (b *blackholeConn) LocalAddr() net.Addr                { return b.conn.LocalAddr() }
func (b *blackholeConn) SetDeadline(t time.Time) error      { return b.conn.SetDeadline(t) }
func (b *blackholeConn) SetReadDeadline(t time.Time) error  { return b.conn.SetReadDeadline(t) }
func (b *blackholeConn) SetWriteDeadline(t time.Time) error { return b.conn.SetWriteDeadline(t) }
