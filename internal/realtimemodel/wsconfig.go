package realtimemodel

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// WSConfig configures a WebSocket upstream. Zero fields take defaults.
//
// The API key is a secret: String, GoString, LogValue (slog) and
// MarshalLogObject (zap) print it as "[REDACTED]", and no error of this
// package contains it.
type WSConfig struct {
	// URL is the service's realtime endpoint, ws:// or wss://, e.g.
	// wss://api.openai.com/v1/realtime?model=gpt-realtime. Required.
	URL string
	// Model, when set, is added to URL as the "model" query parameter
	// (the service selects the model at connect time). It must agree with
	// a model already in URL.
	Model string
	// Voice is session.audio.output.voice (e.g. "marin"); empty lets the
	// service choose.
	Voice string
	// Instructions are the session's system instructions.
	Instructions string
	// APIKey is sent as "Authorization: Bearer <APIKey>"; empty sends no
	// Authorization (a local service, or one authorised through Header).
	APIKey string
	// Header holds extra handshake headers (e.g. "OpenAI-Safety-Identifier").
	// It may not set the WebSocket handshake headers, nor Authorization
	// when APIKey is set. Values are secrets as much as the key: they are
	// never logged.
	Header http.Header
	// DialTimeout bounds one connection attempt (TCP, TLS, handshake and
	// the initial session.update): 100 ms to 2 min, default 10 s.
	DialTimeout time.Duration
	// WriteTimeout bounds one client event write: 10 ms to 1 min,
	// default 5 s. A write that times out drops the connection.
	WriteTimeout time.Duration
	// MaxMessageBytes bounds one server message: 4 KiB to
	// MaxServerEventBytes, default MaxServerEventBytes. A larger message
	// drops the connection.
	MaxMessageBytes int64
	// EventBuffer is the capacity of Events: 1 to 4096, default 128.
	EventBuffer int
	// SlowConsumerTimeout is how long a full Events may stay full before
	// the upstream ends with ErrSlowConsumer: 1 ms to 1 min, default 2 s.
	SlowConsumerTimeout time.Duration
	// Reconnect is the policy for connection attempts.
	Reconnect ReconnectPolicy
	// NoOutputAudioClear leaves output_audio_buffer.clear out of
	// CancelResponse, for services that reject it over WebSocket (the
	// event is defined for WebRTC connections, where the service plays
	// the audio; over WebSocket the caller's playout holds it).
	NoOutputAudioClear bool
	// HTTPClient, when set, is used for the handshake (proxies, custom
	// TLS). By default each upstream has its own transport, closed with it.
	HTTPClient *http.Client
	// Logger receives connection events (never the key or headers);
	// default none.
	Logger *zap.Logger
}

// ReconnectPolicy says how a WebSocket upstream (re)connects. Attempts
// are counted per outage: a connection that received an event resets the
// count, so a service that keeps accepting and dropping at once still
// exhausts it.
type ReconnectPolicy struct {
	// Attempts is how many connection attempts an outage (and the first
	// connect) may take before the upstream ends with ErrUpstreamFailed:
	// 1 to 100, default 5.
	Attempts int
	// MinBackoff is the wait before the first reconnect attempt; it
	// doubles per attempt (with jitter) up to MaxBackoff. 1 ms to 1 min,
	// default 250 ms.
	MinBackoff time.Duration
	// MaxBackoff caps the wait: MinBackoff to 5 min, default 10 s.
	MaxBackoff time.Duration
	// Disabled ends the upstream on the first dropped connection.
	Disabled bool
}

const (
	defaultDialTimeout  = 10 * time.Second
	defaultWriteTimeout = 5 * time.Second
	defaultAttempts     = 5
	defaultMinBackoff   = 250 * time.Millisecond
	defaultMaxBackoff   = 10 * time.Second
	maxURLBytes         = 2048
	maxModelBytes       = 128
	maxVoiceBytes       = 64
	maxInstructionBytes = 16 << 10
	maxAPIKeyBytes      = 1024
	maxExtraHeaders     = 32
	maxHeaderBytes      = 8 << 10
	redacted            = "[REDACTED]"
)

// validate fills defaults and checks every field; errors match
// ErrInvalidConfig and name the field.
func (c WSConfig) validate() (WSConfig, error) {
	bad := func(field, why string) (WSConfig, error) {
		return WSConfig{}, fmt.Errorf("%w: WSConfig.%s %s", ErrInvalidConfig, field, why)
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = defaultDialTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = defaultWriteTimeout
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = MaxServerEventBytes
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = defaultEventBuffer
	}
	if c.SlowConsumerTimeout == 0 {
		c.SlowConsumerTimeout = defaultSlowConsumer
	}
	if c.Reconnect.Attempts == 0 {
		c.Reconnect.Attempts = defaultAttempts
	}
	if c.Reconnect.MinBackoff == 0 {
		c.Reconnect.MinBackoff = defaultMinBackoff
	}
	if c.Reconnect.MaxBackoff == 0 {
		c.Reconnect.MaxBackoff = max(defaultMaxBackoff, c.Reconnect.MinBackoff)
	}
	if c.URL == "" {
		return bad("URL", "is required")
	}
	if len(c.URL) > maxURLBytes {
		return bad("URL", fmt.Sprintf("longer than %d bytes", maxURLBytes))
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return bad("URL", "does not parse") // the parse error quotes the URL
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return bad("URL", fmt.Sprintf("scheme %q is not ws or wss", u.Scheme))
	}
	if u.Host == "" {
		return bad("URL", "has no host")
	}
	if c.Model != "" {
		q := u.Query()
		switch m := q.Get("model"); {
		case m == "":
			q.Set("model", c.Model)
			u.RawQuery = q.Encode()
			c.URL = u.String()
		case m != c.Model:
			return bad("Model", fmt.Sprintf("%q disagrees with the URL's model %q", c.Model, m))
		}
	}
	for _, f := range []struct {
		name, v string
		limit   int
	}{{"Model", c.Model, maxModelBytes}, {"Voice", c.Voice, maxVoiceBytes}, {"Instructions", c.Instructions, maxInstructionBytes}} {
		if len(f.v) > f.limit || !utf8.ValidString(f.v) {
			return bad(f.name, fmt.Sprintf("must be valid UTF-8 of at most %d bytes", f.limit))
		}
	}
	if len(c.APIKey) > maxAPIKeyBytes || !headerSafe(c.APIKey) || strings.ContainsAny(c.APIKey, " \t") {
		return bad("APIKey", fmt.Sprintf("must be at most %d printable bytes without spaces", maxAPIKeyBytes))
	}
	if len(c.Header) > maxExtraHeaders {
		return bad("Header", fmt.Sprintf("has more than %d names", maxExtraHeaders))
	}
	size := 0
	for k, vs := range c.Header {
		ck := http.CanonicalHeaderKey(k)
		switch {
		case ck == "Authorization" && c.APIKey != "":
			return bad("Header", "sets Authorization while APIKey is set")
		case ck == "Upgrade" || ck == "Connection" || ck == "Host" || strings.HasPrefix(ck, "Sec-Websocket-"):
			return bad("Header", fmt.Sprintf("may not set the handshake header %q", ck))
		case k == "" || !headerSafe(k) || strings.ContainsAny(k, " \t:"):
			return bad("Header", "has an invalid name")
		}
		for _, v := range vs {
			if !headerSafe(v) {
				return bad("Header", fmt.Sprintf("value of %q has control characters", ck))
			}
			size += len(k) + len(v)
		}
	}
	if size > maxHeaderBytes {
		return bad("Header", fmt.Sprintf("larger than %d bytes", maxHeaderBytes))
	}
	switch {
	case c.DialTimeout < 100*time.Millisecond || c.DialTimeout > 2*time.Minute:
		return bad("DialTimeout", fmt.Sprintf("%v out of range [100ms, 2m]", c.DialTimeout))
	case c.WriteTimeout < 10*time.Millisecond || c.WriteTimeout > time.Minute:
		return bad("WriteTimeout", fmt.Sprintf("%v out of range [10ms, 1m]", c.WriteTimeout))
	case c.MaxMessageBytes < 4<<10 || c.MaxMessageBytes > MaxServerEventBytes:
		return bad("MaxMessageBytes", fmt.Sprintf("%d out of range [4096, %d]", c.MaxMessageBytes, MaxServerEventBytes))
	case c.EventBuffer < 1 || c.EventBuffer > 4096:
		return bad("EventBuffer", fmt.Sprintf("%d out of range [1, 4096]", c.EventBuffer))
	case c.SlowConsumerTimeout < time.Millisecond || c.SlowConsumerTimeout > time.Minute:
		return bad("SlowConsumerTimeout", fmt.Sprintf("%v out of range [1ms, 1m]", c.SlowConsumerTimeout))
	case c.Reconnect.Attempts < 1 || c.Reconnect.Attempts > 100:
		return bad("Reconnect.Attempts", fmt.Sprintf("%d out of range [1, 100]", c.Reconnect.Attempts))
	case c.Reconnect.MinBackoff < time.Millisecond || c.Reconnect.MinBackoff > time.Minute:
		return bad("Reconnect.MinBackoff", fmt.Sprintf("%v out of range [1ms, 1m]", c.Reconnect.MinBackoff))
	case c.Reconnect.MaxBackoff < c.Reconnect.MinBackoff || c.Reconnect.MaxBackoff > 5*time.Minute:
		return bad("Reconnect.MaxBackoff", fmt.Sprintf("%v out of range [MinBackoff, 5m]", c.Reconnect.MaxBackoff))
	}
	return c, nil
}

// headerSafe reports whether s has no control characters (no header
// injection through CR/LF).
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// redactURL is the URL without credentials: no user info, and the values
// of query parameters that look like secrets (api-key, key, token, sig...)
// replaced. Unparsable URLs are replaced whole.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redacted
	}
	if u.User != nil {
		u.User = url.User(redacted)
	}
	q := u.Query()
	changed := false
	for k := range q {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "key") || strings.Contains(lk, "token") || strings.Contains(lk, "secret") ||
			strings.Contains(lk, "sig") || strings.Contains(lk, "auth") || strings.Contains(lk, "password") {
			q[k] = []string{redacted}
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func (c WSConfig) keyState() string {
	if c.APIKey == "" {
		return "none"
	}
	return redacted
}

// String prints the configuration without the key or header values.
func (c WSConfig) String() string {
	names := make([]string, 0, len(c.Header))
	for k := range c.Header {
		names = append(names, http.CanonicalHeaderKey(k))
	}
	return fmt.Sprintf("WSConfig{URL:%s Model:%q Voice:%q APIKey:%s Header:%v DialTimeout:%v Reconnect:%+v}",
		redactURL(c.URL), c.Model, c.Voice, c.keyState(), names, c.DialTimeout, c.Reconnect)
}

// GoString is String, so %#v does not print the key either.
func (c WSConfig) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the key.
func (c WSConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", redactURL(c.URL)),
		slog.String("model", c.Model),
		slog.String("voice", c.Voice),
		slog.String("apiKey", c.keyState()),
		slog.Int("extraHeaders", len(c.Header)),
	)
}

// MarshalLogObject implements zapcore.ObjectMarshaler without the key.
func (c WSConfig) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("url", redactURL(c.URL))
	enc.AddString("model", c.Model)
	enc.AddString("voice", c.Voice)
	enc.AddString("apiKey", c.keyState())
	enc.AddInt("extraHeaders", len(c.Header))
	enc.AddInt("reconnectAttempts", c.Reconnect.Attempts)
	return nil
}

// scrubbedError hides secrets in an error from the network stack (a
// *url.Error quotes the whole URL, query included). Unwrap keeps
// errors.Is/As working on the cause.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub returns err with the raw URL, the API key and header values
// removed from its text.
func (c WSConfig) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL != "" {
		msg = strings.ReplaceAll(msg, ue.URL, redactURL(ue.URL))
	}
	if c.URL != "" {
		msg = strings.ReplaceAll(msg, c.URL, redactURL(c.URL))
	}
	secrets := []string{c.APIKey}
	for _, vs := range c.Header {
		secrets = append(secrets, vs...)
	}
	for _, s := range secrets {
		if len(s) >= 4 { // shorter values would mangle ordinary words
			msg = strings.ReplaceAll(msg, s, redacted)
		}
	}
	return &scrubbedError{msg: msg, err: err}
}
