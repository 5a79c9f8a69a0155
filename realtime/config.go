package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/rtc"
	"github.com/inferflow/inferflow/internal/telemetry"
	"github.com/inferflow/inferflow/internal/temporalclient"
	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
)

// DevTokens is the token a fresh checkout accepts, for local development
// only: it bills the user alice.
const DevTokens = "inferflow-dev-token:alice"

// The realtime process's own settings; the shared ones are declared by the
// packages they configure.
var settings = struct {
	Listen        envflag.Spec[string]
	MetricsAddr   envflag.Spec[string]
	Tokens        envflag.Spec[string]
	MaxSessions   envflag.Spec[int]
	PerToken      envflag.Spec[int]
	MaxOffer      envflag.Spec[int]
	ReqBurst      envflag.Spec[int]
	ReqPerMinute  envflag.Spec[int]
	IdleTimeout   envflag.Spec[time.Duration]
	JitterDelay   envflag.Spec[time.Duration]
	PublicIPs     envflag.Spec[string]
	UDPPorts      envflag.Spec[string]
	UDPMux        envflag.Spec[string]
	ICEServers    envflag.Spec[string]
	Loopback      envflag.Spec[bool]
	BillingModel  envflag.Spec[string]
	MaxBarrier    envflag.Spec[time.Duration]
	ReplyLatency  envflag.Spec[time.Duration]
	ReserveTimout envflag.Spec[time.Duration]
	Upstream      envflag.Spec[string]
	ModelURL      envflag.Spec[string]
	Model         envflag.Spec[string]
	Voice         envflag.Spec[string]
	Instructions  envflag.Spec[string]
	APIKey        envflag.Spec[string]
	NoAudioClear  envflag.Spec[bool]
	PprofAddr     envflag.Spec[string]
	InstanceID    envflag.Spec[string]
	OwnerLease    envflag.Spec[time.Duration]
}{
	Listen: envflag.Spec[string]{Flag: "listen", Env: "INFERFLOW_REALTIME_ADDR", Default: "127.0.0.1:8088",
		Help: "HTTP address of the WHIP endpoint (/whip)", Check: envflag.HostPort},
	MetricsAddr: envflag.Spec[string]{Flag: "metrics-addr", Env: "INFERFLOW_REALTIME_METRICS_ADDR", Default: "127.0.0.1:9091",
		Help: "Prometheus /metrics listen address of the realtime process (empty disables)", Check: envflag.Optional(envflag.HostPort)},
	Tokens: envflag.Spec[string]{Env: "INFERFLOW_REALTIME_TOKENS", Default: DevTokens, Secret: true,
		Help: "bearer tokens callers present and the user each bills, token:user,... (tokens 8..512 characters)", Check: checkTokens},
	MaxSessions: envflag.Spec[int]{Flag: "max-sessions", Env: "INFERFLOW_REALTIME_MAX_SESSIONS", Default: rtc.DefaultMaxSessions,
		Help: "calls at once in total (more get 429)", Check: envflag.AtLeast(1)},
	PerToken: envflag.Spec[int]{Flag: "max-sessions-per-token", Env: "INFERFLOW_REALTIME_MAX_SESSIONS_PER_TOKEN", Default: rtc.DefaultMaxSessionsPerToken,
		Help: "calls at once per token (more get 429)", Check: envflag.AtLeast(1)},
	MaxOffer: envflag.Spec[int]{Flag: "max-offer-bytes", Env: "INFERFLOW_REALTIME_MAX_OFFER_BYTES", Default: rtc.DefaultMaxOfferBytes,
		Help: "largest SDP offer accepted, in bytes (more get 413)", Check: between(1024, rtc.MaxOfferBytesCeiling)},
	ReqBurst: envflag.Spec[int]{Flag: "request-burst", Env: "INFERFLOW_REALTIME_REQUEST_BURST", Default: rtc.DefaultRequestBurst,
		Help: "requests a token may make at once on /whip (more get 429 with Retry-After)", Check: between(1, 1_000_000)},
	ReqPerMinute: envflag.Spec[int]{Flag: "requests-per-minute", Env: "INFERFLOW_REALTIME_REQUESTS_PER_MINUTE", Default: rtc.DefaultRequestsPerMinute,
		Help: "sustained requests per minute per token on /whip, refilling the burst", Check: between(1, 1_000_000)},
	IdleTimeout: envflag.Spec[time.Duration]{Flag: "idle-timeout", Env: "INFERFLOW_REALTIME_IDLE_TIMEOUT", Default: rtc.DefaultIdleTimeout,
		Help: "end a call that sends no audio for this long", Check: envflag.AtLeast(time.Second)},
	JitterDelay: envflag.Spec[time.Duration]{Flag: "jitter-delay", Env: "INFERFLOW_REALTIME_JITTER_DELAY", Default: 60 * time.Millisecond,
		Help: "how long a missing packet is waited for before it is concealed", Check: func(d time.Duration) error {
			if d < 0 || d > time.Second {
				return fmt.Errorf("want 0..1s")
			}
			return nil
		}},
	PublicIPs: envflag.Spec[string]{Flag: "public-ips", Env: "INFERFLOW_REALTIME_PUBLIC_IPS",
		Help: "this host's public IPs behind a 1:1 NAT, comma-separated (advertised in ICE candidates)"},
	UDPPorts: envflag.Spec[string]{Flag: "udp-ports", Env: "INFERFLOW_REALTIME_UDP_PORTS",
		Help: "UDP port range for media, MIN-MAX (empty: ephemeral ports)", Check: envflag.Optional(func(v string) error { _, _, err := portRange(v); return err })},
	UDPMux: envflag.Spec[string]{Flag: "udp-mux", Env: "INFERFLOW_REALTIME_UDP_MUX",
		Help: "serve all media on one UDP address, e.g. :8443 (exclusive with --udp-ports)", Check: envflag.Optional(envflag.HostPort)},
	ICEServers: envflag.Spec[string]{Flag: "ice-servers", Env: "INFERFLOW_REALTIME_ICE_SERVERS",
		Help: "STUN/TURN server URLs, comma-separated"},
	Loopback: envflag.Spec[bool]{Flag: "include-loopback", Env: "INFERFLOW_REALTIME_INCLUDE_LOOPBACK", Default: true,
		Help: "offer loopback ICE candidates (needed when caller and server share a host; turn off in production)"},
	BillingModel: envflag.Spec[string]{Flag: "billing-model", Env: "INFERFLOW_REALTIME_BILLING_MODEL", Default: workflows.DefaultVoiceModelID,
		Help: "catalog model each response is billed as", Check: envflag.NotBlank},
	MaxBarrier: envflag.Spec[time.Duration]{Flag: "max-barrier-closed", Env: "INFERFLOW_REALTIME_MAX_BARRIER_CLOSED", Default: 30 * time.Second,
		Help: "the assistant barrier opens by itself after this long (a lost response.done never mutes the caller)", Check: envflag.AtLeast(time.Second)},
	ReplyLatency: envflag.Spec[time.Duration]{Flag: "sim-latency", Env: "INFERFLOW_REALTIME_SIM_LATENCY", Default: 200 * time.Millisecond,
		Help: "simulated model: time to its first audio", Check: envflag.AtLeast(time.Duration(0))},
	Upstream: envflag.Spec[string]{Flag: "upstream", Env: "INFERFLOW_REALTIME_UPSTREAM", Default: "sim",
		Help: "realtime model: sim (built in, offline) or websocket (a service speaking the realtime event protocol)", Check: envflag.OneOf("sim", "websocket")},
	ModelURL: envflag.Spec[string]{Flag: "model-url", Env: "INFERFLOW_REALTIME_MODEL_URL",
		Help: "websocket: the service's URL, e.g. wss://api.openai.com/v1/realtime", Check: envflag.Optional(checkWS)},
	Model: envflag.Spec[string]{Flag: "model", Env: "INFERFLOW_REALTIME_MODEL",
		Help: "websocket: the realtime model, e.g. gpt-realtime (added to the URL as ?model=)"},
	Voice: envflag.Spec[string]{Flag: "voice", Env: "INFERFLOW_REALTIME_VOICE",
		Help: "websocket: the assistant's voice, e.g. marin"},
	Instructions: envflag.Spec[string]{Flag: "instructions", Env: "INFERFLOW_REALTIME_INSTRUCTIONS",
		Help: "websocket: the assistant's instructions"},
	APIKey: envflag.Spec[string]{Env: "INFERFLOW_REALTIME_API_KEY", Secret: true,
		Help: "websocket: API key, sent as Authorization: Bearer; never logged"},
	NoAudioClear: envflag.Spec[bool]{Flag: "no-output-audio-clear", Env: "INFERFLOW_REALTIME_NO_OUTPUT_AUDIO_CLEAR",
		Help: "websocket: do not send output_audio_buffer.clear on a barge-in (services that accept it only over WebRTC)"},
	ReserveTimout: envflag.Spec[time.Duration]{Flag: "reserve-timeout", Env: "INFERFLOW_REALTIME_RESERVE_TIMEOUT", Default: 2 * time.Second,
		Help: "longest wait for a response's billing hold before it goes ahead unheld", Check: envflag.AtLeast(10 * time.Millisecond)},
	InstanceID: envflag.Spec[string]{Flag: "instance-id", Env: "INFERFLOW_REALTIME_INSTANCE_ID",
		Help:  "this process's id, recorded as the owner of each call's session (empty: <hostname>-<listen port>); unique among running processes",
		Check: envflag.Optional(func(v string) error { return wire.ValidateID("instance id", v) })},
	OwnerLease: envflag.Spec[time.Duration]{Flag: "owner-lease", Env: "INFERFLOW_REALTIME_OWNER_LEASE", Default: workflows.DefaultVoiceOwnerLease,
		Help: "a call's session closes ORPHANED, releasing its holds, when nothing came from this process for this long (kept alive every third of it)",
		Check: func(d time.Duration) error {
			if d < workflows.MinVoiceOwnerLease || d > workflows.MaxVoiceOwnerLease {
				return fmt.Errorf("want %s..%s", workflows.MinVoiceOwnerLease, workflows.MaxVoiceOwnerLease)
			}
			return nil
		}},
	PprofAddr: envflag.Spec[string]{Flag: "pprof-addr", Env: "INFERFLOW_REALTIME_PPROF_ADDR",
		Help: "serve Go profiles (/debug/pprof/) on this loopback address (empty disables; for load tests)", Check: envflag.Optional(envflag.HostPort)},
}

type config struct {
	temporal  temporalclient.Config
	telemetry telemetry.Config

	listen       string
	tokens       string
	maxSessions  int
	perToken     int
	maxOffer     int
	reqBurst     int
	reqPerMinute int
	idle         time.Duration
	jitter       time.Duration
	publicIPs    string
	udpPorts     string
	udpMux       string
	iceServers   string
	loopback     bool
	billingModel string
	maxBarrier   time.Duration
	simLatency   time.Duration
	reserveWait  time.Duration

	upstream     string
	modelURL     string
	model        string
	voice        string
	instructions string
	apiKey       string
	noAudioClear bool
	pprofAddr    string
	instanceID   string
	ownerLease   time.Duration
}

func (c *config) register(s *envflag.Set) {
	c.temporal.Register(s)
	envflag.Var(s, &c.telemetry.LogMode, telemetry.Settings.LogMode)
	envflag.Var(s, &c.telemetry.LogLevel, telemetry.Settings.LogLevel)
	envflag.Var(s, &c.telemetry.Environment, telemetry.Settings.Environment)
	envflag.Var(s, &c.telemetry.MetricsAddr, settings.MetricsAddr)
	c.telemetry.Tracing.Register(s)
	envflag.Var(s, &c.listen, settings.Listen)
	envflag.Var(s, &c.tokens, settings.Tokens)
	envflag.Var(s, &c.maxSessions, settings.MaxSessions)
	envflag.Var(s, &c.perToken, settings.PerToken)
	envflag.Var(s, &c.maxOffer, settings.MaxOffer)
	envflag.Var(s, &c.reqBurst, settings.ReqBurst)
	envflag.Var(s, &c.reqPerMinute, settings.ReqPerMinute)
	envflag.Var(s, &c.idle, settings.IdleTimeout)
	envflag.Var(s, &c.jitter, settings.JitterDelay)
	envflag.Var(s, &c.publicIPs, settings.PublicIPs)
	envflag.Var(s, &c.udpPorts, settings.UDPPorts)
	envflag.Var(s, &c.udpMux, settings.UDPMux)
	envflag.Var(s, &c.iceServers, settings.ICEServers)
	envflag.Var(s, &c.loopback, settings.Loopback)
	envflag.Var(s, &c.billingModel, settings.BillingModel)
	envflag.Var(s, &c.maxBarrier, settings.MaxBarrier)
	envflag.Var(s, &c.simLatency, settings.ReplyLatency)
	envflag.Var(s, &c.reserveWait, settings.ReserveTimout)
	envflag.Var(s, &c.upstream, settings.Upstream)
	envflag.Var(s, &c.modelURL, settings.ModelURL)
	envflag.Var(s, &c.model, settings.Model)
	envflag.Var(s, &c.voice, settings.Voice)
	envflag.Var(s, &c.instructions, settings.Instructions)
	envflag.Var(s, &c.apiKey, settings.APIKey)
	envflag.Var(s, &c.noAudioClear, settings.NoAudioClear)
	s.Check(func() error {
		if c.upstream == "websocket" && c.modelURL == "" {
			return settings.ModelURL.Errorf("is required with %s websocket", settings.Upstream.Name())
		}
		return nil
	})
	envflag.Var(s, &c.pprofAddr, settings.PprofAddr)
	envflag.Var(s, &c.instanceID, settings.InstanceID)
	envflag.Var(s, &c.ownerLease, settings.OwnerLease)
	s.Check(func() error {
		if c.udpMux != "" && c.udpPorts != "" {
			return settings.UDPMux.Errorf("cannot be combined with %s", settings.UDPPorts.Name())
		}
		return nil
	})
}

func parseConfig(args []string) (config, error) {
	var c config
	s := envflag.New("realtime")
	c.register(s)
	return c, s.Parse(args)
}

// parseTokens reads token:user pairs.
func parseTokens(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		tok, user, ok := strings.Cut(pair, ":")
		if !ok || tok == "" || user == "" {
			return nil, fmt.Errorf("want token:user pairs separated by commas")
		}
		if len(tok) < 8 || len(tok) > 512 {
			return nil, fmt.Errorf("a token must be 8..512 characters")
		}
		if err := wire.ValidateID("user", user); err != nil {
			return nil, err
		}
		if _, dup := out[tok]; dup {
			return nil, fmt.Errorf("a token is listed twice")
		}
		out[tok] = user
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("at least one token:user pair is required")
	}
	return out, nil
}

func checkWS(v string) error {
	if !strings.HasPrefix(v, "ws://") && !strings.HasPrefix(v, "wss://") {
		return fmt.Errorf("want a ws:// or wss:// URL")
	}
	return nil
}

func between(lo, hi int) func(int) error {
	return func(v int) error {
		if v < lo || v > hi {
			return fmt.Errorf("want %d..%d", lo, hi)
		}
		return nil
	}
}

func checkTokens(v string) error { _, err := parseTokens(v); return err }

func portRange(v string) (uint16, uint16, error) {
	lo, hi, ok := strings.Cut(v, "-")
	a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if !ok || err1 != nil || err2 != nil || a == 0 || a > b {
		return 0, 0, fmt.Errorf("want MIN-MAX with 0 < MIN <= MAX <= 65535")
	}
	return uint16(a), uint16(b), nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// owner is the instance id sessions record: the configured one, or the
// host's name and the listen port, the same after a restart in place.
func (c config) owner() string {
	if c.instanceID != "" {
		return c.instanceID
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "realtime"
	}
	_, port, _ := net.SplitHostPort(c.listen)
	return host + "-" + port
}

// rtcConfig turns the settings into the signalling server's configuration.
func (c config) rtcConfig() (rtc.Config, error) {
	tokens, err := parseTokens(c.tokens)
	if err != nil {
		return rtc.Config{}, settings.Tokens.Errorf("%v", err)
	}
	rc := rtc.Config{Tokens: tokens, MaxSessions: c.maxSessions, MaxSessionsPerToken: min(c.perToken, c.maxSessions), IdleTimeout: c.idle,
		MaxOfferBytes: c.maxOffer, RequestBurst: c.reqBurst, RequestsPerMinute: c.reqPerMinute}
	rc.PublicIPs = splitList(c.publicIPs)
	if c.udpPorts != "" {
		rc.UDPPortMin, rc.UDPPortMax, _ = portRange(c.udpPorts)
	}
	rc.UDPMuxAddress = c.udpMux
	rc.IncludeLoopback = c.loopback
	if urls := splitList(c.iceServers); len(urls) > 0 {
		rc.ICEServers = []rtc.ICEServer{{URLs: urls}}
	}
	return rc, nil
}
