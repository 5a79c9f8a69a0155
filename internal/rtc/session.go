package rtc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"go.uber.org/zap"
)

// EventsLabel is the data channel carrying JSON events to the caller.
const EventsLabel = "events"

// Packet is one received RTP packet reduced to the fields a decoder needs.
type Packet struct {
	SequenceNumber uint16
	Timestamp      uint32
	Marker         bool
	PayloadType    uint8
	// Payload is a fresh slice per packet: the reader owns it and may keep
	// or modify it; this package never touches it again.
	Payload []byte
	Arrival time.Time
}

// Codec describes the negotiated inbound (caller microphone) codec.
type Codec struct {
	MimeType    string // "audio/opus" or "audio/PCMU"
	ClockRate   uint32
	Channels    uint16
	PayloadType uint8
	Fmtp        string
}

// Stats are a session's (or client's) counters. PacketsOut/BytesOut count
// what was handed to the outbound track, including before the peer connected.
type Stats struct {
	PacketsIn        uint64    `json:"packetsIn"`
	BytesIn          uint64    `json:"bytesIn"`
	PacketsInDropped uint64    `json:"packetsInDropped"` // ReadPacket fell behind the queue
	PacketsOut       uint64    `json:"packetsOut"`
	BytesOut         uint64    `json:"bytesOut"`
	EventsSent       uint64    `json:"eventsSent"`
	EventsDropped    uint64    `json:"eventsDropped"`
	MessagesDropped  uint64    `json:"messagesDropped"` // caller messages ReadMessage fell behind on
	LastPacketAt     time.Time `json:"lastPacketAt,omitzero"`
	ICEState         string    `json:"iceState"`
	ConnectionState  string    `json:"connectionState"`
}

// counters are updated lock-free from the media goroutines.
type counters struct {
	packetsIn, bytesIn, packetsInDropped atomic.Uint64
	packetsOut, bytesOut                 atomic.Uint64
	eventsSent, eventsDropped            atomic.Uint64
	inboxDropped                         atomic.Uint64
	lastPacket                           atomic.Int64 // unix nanos
}

func (c *counters) snapshot() Stats {
	s := Stats{
		PacketsIn: c.packetsIn.Load(), BytesIn: c.bytesIn.Load(), PacketsInDropped: c.packetsInDropped.Load(),
		PacketsOut: c.packetsOut.Load(), BytesOut: c.bytesOut.Load(),
		EventsSent: c.eventsSent.Load(), EventsDropped: c.eventsDropped.Load(),
		MessagesDropped: c.inboxDropped.Load(),
	}
	if n := c.lastPacket.Load(); n != 0 {
		s.LastPacketAt = time.Unix(0, n)
	}
	return s
}

// Session is one caller's connection. Its methods are safe for concurrent use.
type Session struct {
	id, userID, token string
	created           time.Time
	cfg               *Config
	log               *zap.Logger

	ctx    context.Context
	cancel context.CancelCauseFunc

	pc     *webrtc.PeerConnection
	out    *webrtc.TrackLocalStaticSample
	sender *webrtc.RTPSender

	packets   chan Packet
	events    chan []byte
	inbox     chan []byte // caller's messages on the events channel
	codec     Codec
	codecOnce sync.Once
	codecSet  chan struct{}
	dcOnce    sync.Once
	dcReady   chan struct{}
	stats     counters

	mu         sync.Mutex
	closing    bool // set before wg.Wait: no new goroutines after it
	reason     string
	dc         *webrtc.DataChannel
	snapshot   func() any
	graceTimer *time.Timer
	dcTimer    *time.Timer
	connected  bool
	hasApp     bool // the offer carried a data-channel (application) section
	trackTaken bool

	wg   sync.WaitGroup
	done chan struct{}
	// handlerDone closes when the onSession callback returned, released
	// when, after that and Done, the server gave back the session's slot.
	handlerDone chan struct{}
	released    chan struct{}
}

// ID is the session id used in the WHIP resource URL.
func (s *Session) ID() string { return s.id }

// UserID is the user the bearer token belongs to.
func (s *Session) UserID() string { return s.userID }

// Context is cancelled when the session ends; context.Cause tells why.
func (s *Session) Context() context.Context { return s.ctx }

// Done closes once the session has ended and its peer connection, tracks and
// goroutines are freed. It does not wait for the onSession callback.
func (s *Session) Done() <-chan struct{} { return s.done }

// Reason is why the session ended ("" while it runs).
func (s *Session) Reason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// Close ends the session. It never blocks and may be called from any
// goroutine, any number of times; the first reason wins. Wait on Done for
// the resources to be freed.
func (s *Session) Close(reason string) {
	if reason == "" {
		reason = "closed"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason == "" {
		s.reason = reason
		// Under the lock, so that the context's cause matches Reason.
		s.cancel(&EndedError{Reason: reason})
	}
}

// EndedError is the session context's cause.
type EndedError struct{ Reason string }

func (e *EndedError) Error() string { return "rtc: session ended: " + e.Reason }

// SetSnapshot installs the function GET /whip/<id> renders as JSON. It is
// called from HTTP goroutines, so it must be safe for concurrent use.
func (s *Session) SetSnapshot(f func() any) {
	s.mu.Lock()
	s.snapshot = f
	s.mu.Unlock()
}

// InboundCodec waits until the caller's audio track starts and returns its
// codec; it fails when ctx or the session ends first.
func (s *Session) InboundCodec(ctx context.Context) (Codec, error) {
	select {
	case <-s.codecSet:
		return s.codec, nil
	case <-ctx.Done():
		return Codec{}, ctx.Err()
	case <-s.ctx.Done():
		return Codec{}, ErrClosed
	}
}

// ReadPacket returns the next received RTP packet of the caller's audio, in
// arrival order (reordering and loss are the reader's to handle). Packets are
// queued up to Config.PacketQueue; when the reader falls further behind, new
// packets are dropped and counted in Stats().PacketsInDropped. After the
// session ends, queued packets are still returned, then ErrClosed.
func (s *Session) ReadPacket(ctx context.Context) (Packet, error) {
	select {
	case p := <-s.packets:
		return p, nil
	default:
	}
	select {
	case p := <-s.packets:
		return p, nil
	case <-ctx.Done():
		return Packet{}, ctx.Err()
	case <-s.ctx.Done():
		select {
		case p := <-s.packets:
			return p, nil
		default:
			return Packet{}, ErrClosed
		}
	}
}

// WriteAudio sends one encoded Opus packet lasting duration on the outbound
// track. payload is not retained after the call returns. Audio written before
// the caller is connected is discarded by the track.
func (s *Session) WriteAudio(payload []byte, duration time.Duration) error {
	if err := checkAudio(payload, duration); err != nil {
		return err
	}
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	if err := s.out.WriteSample(media.Sample{Data: payload, Duration: duration}); err != nil {
		if s.ctx.Err() != nil {
			return ErrClosed
		}
		return fmt.Errorf("rtc: write audio: %w", err)
	}
	s.stats.packetsOut.Add(1)
	s.stats.bytesOut.Add(uint64(len(payload)))
	return nil
}

func checkAudio(payload []byte, d time.Duration) error {
	if len(payload) == 0 || len(payload) > maxAudioPayload {
		return fmt.Errorf("%w: payload %d bytes, want 1..%d", ErrInvalidAudio, len(payload), maxAudioPayload)
	}
	if d <= 0 || d > maxAudioDuration {
		return fmt.Errorf("%w: duration %s, want (0, %s]", ErrInvalidAudio, d, maxAudioDuration)
	}
	return nil
}

// SendEvent queues msg (copied) for the events data channel and returns at
// once. Events queue until the channel opens; when the queue is full, or the
// channel is stalled, the event is dropped and counted in Stats().EventsDropped.
// It reports whether msg was queued.
func (s *Session) SendEvent(msg []byte) bool {
	if len(msg) == 0 || len(msg) > maxEventBytes || s.ctx.Err() != nil {
		s.stats.eventsDropped.Add(1)
		return false
	}
	m := append([]byte(nil), msg...)
	select {
	case s.events <- m:
		return true
	default:
		s.stats.eventsDropped.Add(1)
		return false
	}
}

// ReadMessage returns the next message the caller sent on the events
// channel (e.g. a browser's control command). Up to Config.EventQueue
// messages wait; beyond that they are dropped (Stats().MessagesDropped).
// The returned slice is the caller's to keep.
func (s *Session) ReadMessage(ctx context.Context) ([]byte, error) {
	select {
	case m := <-s.inbox:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.ctx.Done():
		return nil, ErrClosed
	}
}

// Stats returns the session's counters and connection states.
func (s *Session) Stats() Stats {
	st := s.stats.snapshot()
	st.ICEState = s.pc.ICEConnectionState().String()
	st.ConnectionState = s.pc.ConnectionState().String()
	return st
}

// Snapshot is what GET /whip/<id> shows when the handler installed none.
type Snapshot struct {
	ID      string    `json:"id"`
	UserID  string    `json:"userId"`
	Created time.Time `json:"created"`
	Stats   Stats     `json:"stats"`
}

func (s *Session) renderSnapshot() any {
	s.mu.Lock()
	f := s.snapshot
	s.mu.Unlock()
	if f != nil {
		return f()
	}
	return Snapshot{ID: s.id, UserID: s.userID, Created: s.created, Stats: s.Stats()}
}

// goTracked starts f as a goroutine the teardown waits for, unless the
// session is already tearing down.
func (s *Session) goTracked(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// runTracked runs f on the calling goroutine (a Pion callback goroutine),
// counted like goTracked.
func (s *Session) runTracked(f func()) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	f()
}

// wire installs the Pion callbacks; called before SetRemoteDescription.
func (s *Session) wire() {
	s.pc.OnConnectionStateChange(s.onConnectionState)
	s.pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		s.runTracked(func() { s.readTrack(t) })
	})
	s.pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() == EventsLabel {
			s.adoptDataChannel(dc)
		}
	})
}

func (s *Session) onConnectionState(st webrtc.PeerConnectionState) {
	switch st {
	case webrtc.PeerConnectionStateConnected:
		s.mu.Lock()
		if s.graceTimer != nil {
			s.graceTimer.Stop()
			s.graceTimer = nil
		}
		first := !s.connected
		s.connected = true
		if first && s.hasApp && !s.closing {
			s.dcTimer = time.AfterFunc(s.cfg.EventsChannelWait, func() { s.runTracked(s.openOwnDataChannel) })
		}
		s.mu.Unlock()
	case webrtc.PeerConnectionStateDisconnected:
		s.mu.Lock()
		if s.graceTimer == nil && !s.closing {
			s.graceTimer = time.AfterFunc(s.cfg.DisconnectGrace, func() { s.Close("ice disconnected") })
		}
		s.mu.Unlock()
	case webrtc.PeerConnectionStateFailed:
		s.Close("connection failed")
	case webrtc.PeerConnectionStateClosed:
		s.Close("peer connection closed")
	}
}

// openOwnDataChannel opens "events" from the server side when the caller
// did not open one.
func (s *Session) openOwnDataChannel() {
	s.mu.Lock()
	skip := s.closing || s.dc != nil
	s.mu.Unlock()
	if skip {
		return
	}
	dc, err := s.pc.CreateDataChannel(EventsLabel, nil)
	if err != nil {
		s.log.Warn("open events data channel", zap.Error(err))
		return
	}
	s.adoptDataChannel(dc)
}

func (s *Session) adoptDataChannel(dc *webrtc.DataChannel) {
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if len(m.Data) > maxEventBytes {
			return
		}
		select {
		case s.inbox <- m.Data: // Pion allocates Data per message
		default:
			s.stats.inboxDropped.Add(1)
		}
	})
	ready := func() {
		s.mu.Lock()
		if s.dc == nil {
			s.dc = dc
		}
		s.mu.Unlock()
		s.dcOnce.Do(func() { close(s.dcReady) })
	}
	dc.OnOpen(ready)
	if dc.ReadyState() == webrtc.DataChannelStateOpen {
		ready()
	}
}

// drainEvents is the one goroutine that writes to the events channel, so
// that neither the audio path nor SendEvent ever waits on SCTP.
func (s *Session) drainEvents() {
	select {
	case <-s.dcReady:
	case <-s.ctx.Done():
		return
	}
	s.mu.Lock()
	dc := s.dc
	s.mu.Unlock()
	for {
		select {
		case <-s.ctx.Done():
			return
		case m := <-s.events:
			if dc.BufferedAmount() > maxBufferedEventBytes {
				s.stats.eventsDropped.Add(1)
				continue
			}
			if err := dc.Send(m); err != nil {
				s.stats.eventsDropped.Add(1)
				continue
			}
			s.stats.eventsSent.Add(1)
		}
	}
}

// readTrack pumps the caller's first audio track into the packet queue.
// Further tracks are read and discarded so that Pion's buffers stay empty.
func (s *Session) readTrack(t *webrtc.TrackRemote) {
	s.mu.Lock()
	first := !s.trackTaken && t.Kind() == webrtc.RTPCodecTypeAudio
	s.trackTaken = s.trackTaken || first
	s.mu.Unlock()
	if first {
		c := t.Codec()
		s.codecOnce.Do(func() {
			s.codec = Codec{MimeType: c.MimeType, ClockRate: c.ClockRate, Channels: c.Channels,
				PayloadType: uint8(c.PayloadType), Fmtp: c.SDPFmtpLine}
			close(s.codecSet)
		})
	}
	pumpTrack(t, first, s.packets, &s.stats, s.ctx.Done())
}

// pumpTrack reads t until it fails (the peer connection closed). When keep is
// false packets are discarded.
func pumpTrack(t *webrtc.TrackRemote, keep bool, out chan Packet, st *counters, done <-chan struct{}) {
	buf := make([]byte, 1500)
	var p rtp.Packet
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if !keep {
			continue
		}
		now := time.Now()
		if err := p.Unmarshal(buf[:n]); err != nil {
			continue
		}
		st.packetsIn.Add(1)
		st.bytesIn.Add(uint64(len(p.Payload)))
		st.lastPacket.Store(now.UnixNano())
		pkt := Packet{
			SequenceNumber: p.SequenceNumber, Timestamp: p.Timestamp, Marker: p.Marker,
			PayloadType: p.PayloadType, Payload: append([]byte(nil), p.Payload...), Arrival: now,
		}
		select {
		case out <- pkt:
		case <-done:
			return
		default:
			st.packetsInDropped.Add(1)
		}
	}
}

// readRTCP drains RTCP for the outbound track so that Pion's interceptors
// (reports, NACK) see it; it ends when the peer connection closes.
func readRTCP(sender *webrtc.RTPSender) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := sender.Read(buf); err != nil {
			return
		}
	}
}

// supervise ends the session on idle timeout or cancellation, then frees it.
func (s *Session) supervise(onFreed func()) {
	tick := max(s.cfg.IdleTimeout/4, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			s.teardown()
			onFreed()
			return
		case now := <-t.C:
			last := s.created
			if n := s.stats.lastPacket.Load(); n != 0 {
				last = time.Unix(0, n)
			}
			if now.Sub(last) > s.cfg.IdleTimeout {
				s.Close("idle timeout")
			}
		}
	}
}

func (s *Session) teardown() {
	s.mu.Lock()
	s.closing = true
	for _, t := range []*time.Timer{s.graceTimer, s.dcTimer} {
		if t != nil {
			t.Stop()
		}
	}
	s.mu.Unlock()
	if err := s.pc.Close(); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
		s.log.Warn("close peer connection", zap.Error(err))
	}
	s.wg.Wait()
	close(s.done)
}
