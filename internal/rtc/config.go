package rtc

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"
)

// Defaults applied by Config.withDefaults for fields left zero.
const (
	DefaultMaxSessions         = 64
	DefaultMaxSessionsPerToken = 4
	DefaultIdleTimeout         = 15 * time.Second
	DefaultDisconnectGrace     = 5 * time.Second
	DefaultGatherTimeout       = 3 * time.Second
	DefaultEventsChannelWait   = time.Second
	DefaultRetryAfter          = 5 * time.Second
	DefaultEventQueue          = 256
	DefaultPacketQueue         = 256

	// maxDrainBytes bounds what is read of an over-size offer before the 413.
	maxDrainBytes = 1 << 20
	// DefaultMaxOfferBytes bounds the SDP offer a caller may POST. A browser
	// offer with audio and a data channel is 2..6 KiB; 64 KiB leaves room
	// for many candidates without letting a caller make the server parse
	// megabytes.
	DefaultMaxOfferBytes = 64 << 10
	// MaxOfferBytesCeiling is the most Config.MaxOfferBytes may be set to.
	MaxOfferBytesCeiling = maxDrainBytes
	// DefaultRequestBurst and DefaultRequestsPerMinute bound each token's
	// requests on the signalling endpoint (offers, snapshots, deletes): a
	// burst of 20, refilled at 2 a second. A caller makes 2..3 requests per
	// call, so this never touches honest use and stops a token hammering
	// Pion's SDP parsing and ICE gathering.
	DefaultRequestBurst      = 20
	DefaultRequestsPerMinute = 120
	// maxEventBytes bounds one data-channel message (SCTP's usual safe size).
	maxEventBytes = 64 << 10
	// maxBufferedEventBytes bounds what may sit unsent in the events channel
	// before further events are dropped: a stalled caller must not grow memory.
	maxBufferedEventBytes = 1 << 20
	// maxAudioPayload bounds one outbound Opus packet (RFC 6716: 1275 bytes
	// per frame, up to 120 ms per packet fits a 1500-byte MTU anyway).
	maxAudioPayload  = 1500
	maxAudioDuration = 120 * time.Millisecond
)

// Opus is the codec the outbound (assistant) track always uses; browsers send
// it by default too.
var opusCodec = webrtc.RTPCodecCapability{
	MimeType:    webrtc.MimeTypeOpus,
	ClockRate:   48000,
	Channels:    2,
	SDPFmtpLine: "minptime=10;useinbandfec=1",
}

var pcmuCodec = webrtc.RTPCodecCapability{
	MimeType:  webrtc.MimeTypePCMU,
	ClockRate: 8000,
	Channels:  1,
}

// ICEServer is a STUN or TURN server handed to the ICE agent.
type ICEServer struct {
	URLs       []string // e.g. "stun:stun.example.org:3478", "turn:turn.example.org?transport=udp"
	Username   string   // TURN only
	Credential string   // TURN only
}

// Network selects where ICE gathers candidates. The zero value uses every
// non-loopback interface, IPv4 and IPv6, with ephemeral UDP ports.
type Network struct {
	// PublicIPs are this host's public addresses behind a 1:1 NAT; host
	// candidates advertise them instead of the private address.
	PublicIPs []string
	// UDPPortMin/UDPPortMax restrict ephemeral ICE ports (both or neither).
	UDPPortMin, UDPPortMax uint16
	// UDPMuxAddress, when set (e.g. ":8443" or "127.0.0.1:0"), serves every
	// session on one UDP socket instead of a port per session. Exclusive with
	// the port range.
	UDPMuxAddress string
	// IncludeLoopback gathers loopback candidates: needed on a machine whose
	// only interface is lo, and for tests.
	IncludeLoopback bool
	// Interfaces, when non-empty, restricts gathering to these interface names.
	Interfaces []string
	// IPv4Only restricts ICE to UDP over IPv4.
	IPv4Only bool
	// ICEServers are STUN/TURN servers.
	ICEServers []ICEServer
	// ICEDisconnectedTimeout is how long without any ICE traffic before a
	// connection counts as disconnected (Pion's default 5 s when zero);
	// keepalives go out at a third of it.
	ICEDisconnectedTimeout time.Duration
}

// Config configures a Server. Zero durations and limits take the defaults above.
type Config struct {
	// Tokens maps a bearer token to the user id the session runs as.
	Tokens map[string]string
	Network
	// MaxSessions bounds live sessions in total, MaxSessionsPerToken per token.
	MaxSessions         int
	MaxSessionsPerToken int
	// IdleTimeout ends a session that has received no RTP for this long
	// (counted from the answer, so a caller that never connects ends too).
	IdleTimeout time.Duration
	// DisconnectGrace is how long a disconnected peer may take to come back.
	DisconnectGrace time.Duration
	// GatherTimeout bounds ICE gathering before the (non-trickle) answer is sent.
	GatherTimeout time.Duration
	// EventsChannelWait is how long, once connected, the server waits for the
	// caller to open an "events" data channel before opening one itself.
	EventsChannelWait time.Duration
	// RetryAfter is advertised with 429 (too many sessions) and 503 answers;
	// a rate-limited request gets the limiter's own wait instead.
	RetryAfter time.Duration
	// MaxOfferBytes bounds the SDP offer's size (over it: 413).
	MaxOfferBytes int
	// RequestsPerMinute and RequestBurst are each token's request rate on
	// the signalling endpoint (a token bucket; over it: 429 rate_limited
	// with Retry-After).
	RequestsPerMinute int
	RequestBurst      int
	// EventQueue bounds queued outbound events per session; PacketQueue
	// bounds received RTP packets not yet read by ReadPacket.
	EventQueue  int
	PacketQueue int
	// Logger receives the package's and Pion's warnings; nil discards.
	Logger *zap.Logger
}

// ConfigError names the configuration field that is wrong.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("rtc config %s: %s", e.Field, e.Reason) }

func (c Config) withDefaults() Config {
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxSessionsPerToken == 0 {
		c.MaxSessionsPerToken = min(DefaultMaxSessionsPerToken, c.MaxSessions)
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.DisconnectGrace == 0 {
		c.DisconnectGrace = DefaultDisconnectGrace
	}
	if c.GatherTimeout == 0 {
		c.GatherTimeout = DefaultGatherTimeout
	}
	if c.EventsChannelWait == 0 {
		c.EventsChannelWait = DefaultEventsChannelWait
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.MaxOfferBytes == 0 {
		c.MaxOfferBytes = DefaultMaxOfferBytes
	}
	if c.RequestsPerMinute == 0 {
		c.RequestsPerMinute = DefaultRequestsPerMinute
	}
	if c.RequestBurst == 0 {
		c.RequestBurst = DefaultRequestBurst
	}
	if c.EventQueue == 0 {
		c.EventQueue = DefaultEventQueue
	}
	if c.PacketQueue == 0 {
		c.PacketQueue = DefaultPacketQueue
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// validate checks a defaulted Config.
func (c Config) validate() error {
	if len(c.Tokens) == 0 {
		return &ConfigError{"Tokens", "at least one token is required"}
	}
	for tok, user := range c.Tokens {
		if len(tok) < 8 || len(tok) > 512 || strings.ContainsAny(tok, " \t\r\n") {
			return &ConfigError{"Tokens", "a token must be 8..512 characters without whitespace"}
		}
		if user == "" {
			return &ConfigError{"Tokens", "every token needs a non-empty user id"}
		}
	}
	if c.MaxSessions < 1 || c.MaxSessions > 100000 {
		return &ConfigError{"MaxSessions", fmt.Sprintf("%d: want 1..100000", c.MaxSessions)}
	}
	if c.MaxSessionsPerToken < 1 || c.MaxSessionsPerToken > c.MaxSessions {
		return &ConfigError{"MaxSessionsPerToken", fmt.Sprintf("%d: want 1..MaxSessions (%d)", c.MaxSessionsPerToken, c.MaxSessions)}
	}
	for _, d := range []struct {
		field     string
		v, lo, hi time.Duration
	}{
		{"IdleTimeout", c.IdleTimeout, 100 * time.Millisecond, time.Hour},
		{"DisconnectGrace", c.DisconnectGrace, 0, 10 * time.Minute},
		{"GatherTimeout", c.GatherTimeout, 10 * time.Millisecond, time.Minute},
		{"EventsChannelWait", c.EventsChannelWait, time.Millisecond, time.Minute},
		{"RetryAfter", c.RetryAfter, time.Second, time.Hour},
	} {
		if d.v < d.lo || d.v > d.hi {
			return &ConfigError{d.field, fmt.Sprintf("%s: want %s..%s", d.v, d.lo, d.hi)}
		}
	}
	if c.MaxOfferBytes < 1024 || c.MaxOfferBytes > MaxOfferBytesCeiling {
		return &ConfigError{"MaxOfferBytes", fmt.Sprintf("%d: want 1024..%d", c.MaxOfferBytes, MaxOfferBytesCeiling)}
	}
	if c.RequestsPerMinute < 1 || c.RequestsPerMinute > 1_000_000 {
		return &ConfigError{"RequestsPerMinute", fmt.Sprintf("%d: want 1..1000000", c.RequestsPerMinute)}
	}
	if c.RequestBurst < 1 || c.RequestBurst > 1_000_000 {
		return &ConfigError{"RequestBurst", fmt.Sprintf("%d: want 1..1000000", c.RequestBurst)}
	}
	if c.EventQueue < 1 || c.EventQueue > 1<<16 {
		return &ConfigError{"EventQueue", fmt.Sprintf("%d: want 1..65536", c.EventQueue)}
	}
	if c.PacketQueue < 1 || c.PacketQueue > 1<<16 {
		return &ConfigError{"PacketQueue", fmt.Sprintf("%d: want 1..65536", c.PacketQueue)}
	}
	return c.Network.validate("")
}

func (n Network) validate(prefix string) error {
	for _, ip := range n.PublicIPs {
		if net.ParseIP(ip) == nil {
			return &ConfigError{prefix + "PublicIPs", fmt.Sprintf("%q is not an IP address", ip)}
		}
	}
	if (n.UDPPortMin == 0) != (n.UDPPortMax == 0) || n.UDPPortMax < n.UDPPortMin {
		return &ConfigError{prefix + "UDPPortMin/UDPPortMax", fmt.Sprintf("%d..%d: set both, min <= max", n.UDPPortMin, n.UDPPortMax)}
	}
	if n.UDPMuxAddress != "" {
		if n.UDPPortMin != 0 {
			return &ConfigError{prefix + "UDPMuxAddress", "exclusive with UDPPortMin/UDPPortMax"}
		}
		if _, err := net.ResolveUDPAddr("udp", n.UDPMuxAddress); err != nil {
			return &ConfigError{prefix + "UDPMuxAddress", err.Error()}
		}
	}
	for _, name := range n.Interfaces {
		if name == "" {
			return &ConfigError{prefix + "Interfaces", "empty interface name"}
		}
	}
	if n.ICEDisconnectedTimeout != 0 && (n.ICEDisconnectedTimeout < 100*time.Millisecond || n.ICEDisconnectedTimeout > time.Minute) {
		return &ConfigError{prefix + "ICEDisconnectedTimeout", fmt.Sprintf("%s: want 100ms..1m", n.ICEDisconnectedTimeout)}
	}
	for i, s := range n.ICEServers {
		if len(s.URLs) == 0 {
			return &ConfigError{fmt.Sprintf("%sICEServers[%d].URLs", prefix, i), "at least one URL"}
		}
		for _, u := range s.URLs {
			if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") &&
				!strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
				return &ConfigError{fmt.Sprintf("%sICEServers[%d].URLs", prefix, i), fmt.Sprintf("%q: want stun:, stuns:, turn: or turns:", u)}
			}
		}
	}
	return nil
}

func (n Network) iceServers() []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(n.ICEServers))
	for _, s := range n.ICEServers {
		ws := webrtc.ICEServer{URLs: append([]string(nil), s.URLs...), Username: s.Username}
		if s.Credential != "" {
			ws.Credential = s.Credential
		}
		out = append(out, ws)
	}
	return out
}

// newAPI builds the Pion API for n. When muxConn is set, all ICE traffic
// goes through it (the client's case). The returned closer frees the UDP mux
// and its socket, if any; it must run after every peer connection closed.
func newAPI(n Network, log *zap.Logger, muxConn net.PacketConn) (*webrtc.API, func() error, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range []struct {
		cap webrtc.RTPCodecCapability
		pt  webrtc.PayloadType
	}{{opusCodec, 111}, {pcmuCodec, 0}} {
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: c.cap, PayloadType: c.pt}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, nil, fmt.Errorf("register %s: %w", c.cap.MimeType, err)
		}
	}
	ir := &interceptor.Registry{}
	lf := &pionLoggerFactory{log: log}
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(me, ir, webrtc.WithInterceptorLoggerFactory(lf)); err != nil {
		return nil, nil, fmt.Errorf("register interceptors: %w", err)
	}

	se := webrtc.SettingEngine{LoggerFactory: lf}
	// mDNS would open multicast sockets per peer and hides nothing here.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(n.IncludeLoopback)
	if len(n.PublicIPs) > 0 {
		//lint:ignore SA1019 the replacement (SetICEAddressRewriteRules) is not yet tried here; this is its documented legacy behaviour
		se.SetNAT1To1IPs(n.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	if len(n.Interfaces) > 0 {
		allowed := map[string]bool{}
		for _, name := range n.Interfaces {
			allowed[name] = true
		}
		se.SetInterfaceFilter(func(name string) bool { return allowed[name] })
	}
	if n.IPv4Only {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	} else {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	}
	if d := n.ICEDisconnectedTimeout; d > 0 {
		// Failed stays Pion's 25 s (or later): DisconnectGrace decides first.
		se.SetICETimeouts(d, max(25*time.Second, 2*d), d/3)
	}
	closer := func() error { return nil }
	switch {
	case muxConn != nil:
		mux := webrtc.NewICEUDPMux(lf.NewLogger("udpmux"), muxConn)
		se.SetICEUDPMux(mux)
		closer = mux.Close
	case n.UDPPortMin != 0:
		if err := se.SetEphemeralUDPPortRange(n.UDPPortMin, n.UDPPortMax); err != nil {
			return nil, nil, &ConfigError{"UDPPortMin/UDPPortMax", err.Error()}
		}
	case n.UDPMuxAddress != "":
		network := "udp"
		if n.IPv4Only {
			network = "udp4"
		}
		addr, err := net.ResolveUDPAddr(network, n.UDPMuxAddress)
		if err != nil {
			return nil, nil, &ConfigError{"UDPMuxAddress", err.Error()}
		}
		conn, err := net.ListenUDP(network, addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen ICE UDP mux on %s: %w", n.UDPMuxAddress, err)
		}
		mux := webrtc.NewICEUDPMux(lf.NewLogger("udpmux"), conn)
		se.SetICEUDPMux(mux)
		closer = mux.Close
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return api, closer, nil
}

// pionLoggerFactory routes Pion's warnings and errors to zap; Pion's
// info/debug/trace chatter is dropped.
type pionLoggerFactory struct{ log *zap.Logger }

func (f *pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.Named("pion." + scope).Sugar()}
}

type pionLogger struct{ s *zap.SugaredLogger }

func (pionLogger) Trace(string)          {}
func (pionLogger) Tracef(string, ...any) {}
func (pionLogger) Debug(string)          {}
func (pionLogger) Debugf(string, ...any) {}
func (pionLogger) Info(string)           {}
func (pionLogger) Infof(string, ...any)  {}
func (l pionLogger) Warn(m string)       { l.s.Warn(m) }
func (l pionLogger) Warnf(f string, a ...any) {
	l.s.Warnf(f, a...)
}
func (l pionLogger) Error(m string) { l.s.Error(m) }
func (l pionLogger) Errorf(f string, a ...any) {
	l.s.Errorf(f, a...)
}

// Errors callers branch on.
var (
	// ErrClosed is returned once a session or client has ended.
	ErrClosed = errors.New("rtc: closed")
	// ErrInvalidAudio rejects an outbound audio payload or duration out of bounds.
	ErrInvalidAudio = errors.New("rtc: invalid audio sample")
)

// ErrNoLoopback: the host has no loopback interface that is up.
var ErrNoLoopback = errors.New("rtc: no loopback interface is up")

// LoopbackNetwork gathers ICE candidates on the loopback interface only,
// over IPv4: for a caller and a server on one host (tests, load
// generation), including a host whose only interface is lo.
func LoopbackNetwork() (Network, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return Network{}, fmt.Errorf("rtc: list interfaces: %w", err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 && i.Flags&net.FlagUp != 0 {
			return Network{IncludeLoopback: true, Interfaces: []string{i.Name}, IPv4Only: true}, nil
		}
	}
	return Network{}, ErrNoLoopback
}
