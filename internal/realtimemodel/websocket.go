package realtimemodel

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"go.uber.org/zap"
)

// WebSocket errors. A WebSocket that ends on its own reports an error
// matching ErrUpstreamFailed (or ErrSlowConsumer) from Err.
var (
	// ErrUpstreamFailed: the service could not be reached, or the
	// connection was lost and reconnecting failed past the policy.
	ErrUpstreamFailed = errors.New("realtimemodel: realtime service failed")
	// ErrUnauthorized: the service refused the credentials (HTTP 401 or
	// 403 at the handshake). It is not retried.
	ErrUnauthorized = errors.New("realtimemodel: realtime service refused the credentials")
	// ErrHandshakeRefused: the service answered the handshake with another
	// client error (e.g. 404 for a wrong path or model). It is not retried.
	ErrHandshakeRefused = errors.New("realtimemodel: realtime service refused the connection")
	// ErrDisconnected: a client event could not be sent because the
	// connection is down (the upstream is reconnecting).
	ErrDisconnected = errors.New("realtimemodel: realtime service disconnected")
)

// Status details of the response.done a WebSocket synthesizes when the
// connection drops under a response.
const (
	CodeUpstreamDisconnected = "upstream_disconnected"
	ReasonUpstreamLost       = "upstream_connection_lost"
)

// WebSocket is an Upstream for a service that speaks the realtime event
// protocol over WebSocket (OpenAI's realtime API and compatible ones). It
// sends session.update with turn detection off on every connection (the
// gate decides turns), passes every server event through, reconnects
// with backoff, and ends a response cut by a dropped connection with a
// synthesized response.done "failed", so billing releases its hold and
// the gate's barrier opens. Client events are written by the calling
// goroutine, each bounded by WSConfig.WriteTimeout; one goroutine reads
// the connection and is the only sender on Events.
type WebSocket struct {
	cfg    WSConfig
	log    *zap.Logger
	client *http.Client
	own    bool // client is ours: close its idle connections at the end
	events chan ServerEvent
	runCtx context.Context // cancelled by Close: stops reads, dials, waits
	stop   context.CancelFunc
	ended  chan struct{} // closed when the loop stops, before events is closed
	exited chan struct{} // closed last

	closeOnce sync.Once
	nEvent    atomic.Int64 // client event ids

	mu      sync.Mutex
	err     error
	conn    *websocket.Conn // nil while disconnected
	gen     int             // connection number; bumped when one is lost
	pending *pendingCreate  // response.create sent, response.created not seen
	active  *Response       // response.created seen, response.done not
	stats   WSStats

	writeMu sync.Mutex // orders writes: calls apply in the order they return

	sendMu  sync.Mutex // orders resampling of SendAudio
	rs      *Resampler
	scratch []int16
	pcmBuf  []byte
	msgBuf  []byte

	slow *time.Timer // owned by the loop
}

type pendingCreate struct {
	eventID, tag string
}

// WSStats counts what a WebSocket did.
type WSStats struct {
	Connects        int   // connections established, the first included
	Drops           int   // connections lost
	FailedResponses int   // responses ended as failed by a lost connection
	AudioSent       int64 // samples at InputRate sent
	AudioDropped    int64 // samples at InputRate dropped while disconnected
	ParseErrors     int   // server messages refused by ParseServerEvent (skipped)
}

var _ Upstream = (*WebSocket)(nil)

// NewWebSocket validates cfg, connects (retrying per cfg.Reconnect, each
// attempt bounded by cfg.DialTimeout, all by ctx), sends session.update,
// and starts the reader. Credentials refused fail at once with an error
// matching ErrUnauthorized. Close the WebSocket to stop its goroutine.
func NewWebSocket(ctx context.Context, cfg WSConfig) (*WebSocket, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	w := &WebSocket{
		cfg:    cfg,
		log:    cfg.Logger,
		client: cfg.HTTPClient,
		events: make(chan ServerEvent, cfg.EventBuffer),
		ended:  make(chan struct{}),
		exited: make(chan struct{}),
		rs:     NewResampler(InputRate, ServiceRate),
	}
	if w.log == nil {
		w.log = zap.NewNop()
	}
	w.log = w.log.With(zap.String("upstream", redactURL(cfg.URL)))
	if w.client == nil {
		w.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		w.own = true
	}
	w.runCtx, w.stop = context.WithCancel(context.Background())
	failures := 0
	conn, err := w.connect(ctx, &failures)
	if err != nil {
		w.stop()
		w.closeIdle()
		return nil, err
	}
	w.log.Info("realtime upstream connected", zap.Object("config", cfg))
	go w.run(conn)
	return w, nil
}

// Stats returns the counters so far.
func (w *WebSocket) Stats() WSStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Connected reports whether a connection is up now.
func (w *WebSocket) Connected() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conn != nil
}

// Events implements Upstream.
func (w *WebSocket) Events() <-chan ServerEvent { return w.events }

// Err implements Upstream.
func (w *WebSocket) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *WebSocket) setErr(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

// Close implements Upstream. It does not wait for a close handshake: the
// connection is cut and the service ends the session on its side.
func (w *WebSocket) Close() error {
	w.closeOnce.Do(func() {
		w.setErr(ErrClosed)
		w.stop()
	})
	<-w.exited
	return nil
}

// SendAudio implements Upstream. While the connection is down the audio
// is dropped and counted (WSStats.AudioDropped), and nil is returned: the
// turn goes on and the service answers what it got.
func (w *WebSocket) SendAudio(ctx context.Context, pcm []int16) error {
	if len(pcm) > MaxAppendSamples {
		return fmt.Errorf("%w: %d samples, limit %d", ErrInvalidInput, len(pcm), MaxAppendSamples)
	}
	if len(pcm) == 0 {
		return nil
	}
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	if err := w.check(ctx, "send audio"); err != nil {
		return err
	}
	// Resample even when disconnected, so the filter's history stays
	// continuous with the stream.
	w.scratch = w.rs.Process(w.scratch[:0], pcm)
	w.pcmBuf = appendPCM(w.pcmBuf[:0], w.scratch)
	b := append(w.msgBuf[:0], `{"type":"input_audio_buffer.append","audio":"`...)
	b = base64.StdEncoding.AppendEncode(b, w.pcmBuf)
	b = append(b, `"}`...)
	w.msgBuf = b
	err := w.write(ctx, "send audio", b, nil)
	switch {
	case errors.Is(err, ErrDisconnected):
		w.count(func(s *WSStats) { s.AudioDropped += int64(len(pcm)) })
		return nil
	case err != nil:
		return err
	}
	w.count(func(s *WSStats) { s.AudioSent += int64(len(pcm)) })
	return nil
}

// CommitTurn implements Upstream.
func (w *WebSocket) CommitTurn(ctx context.Context) error {
	return w.writeEvent(ctx, "commit turn", &InputAudioBufferCommit{}, "")
}

// ClearInput implements Upstream.
func (w *WebSocket) ClearInput(ctx context.Context) error {
	return w.writeEvent(ctx, "clear input", &InputAudioBufferClear{}, "")
}

// CreateResponse implements Upstream. While the connection is down it
// returns an error matching ErrDisconnected.
func (w *WebSocket) CreateResponse(ctx context.Context, tag string) error {
	if len(tag) > MaxTagBytes || !utf8.ValidString(tag) {
		return fmt.Errorf("%w: tag must be valid UTF-8 of at most %d bytes", ErrInvalidInput, MaxTagBytes)
	}
	ev := &ResponseCreate{Response: &ResponseParams{OutputModalities: []string{"audio"}}}
	if tag != "" {
		ev.Response.Metadata = map[string]string{MetadataTagKey: tag}
	}
	return w.writeEvent(ctx, "create response", ev, tag)
}

// CancelResponse implements Upstream: response.cancel, then
// output_audio_buffer.clear (unless WSConfig.NoOutputAudioClear).
func (w *WebSocket) CancelResponse(ctx context.Context) error {
	if err := w.writeEvent(ctx, "cancel response", &ResponseCancel{}, ""); err != nil {
		return err
	}
	if w.cfg.NoOutputAudioClear {
		return nil
	}
	return w.writeEvent(ctx, "clear output audio", &OutputAudioBufferClear{}, "")
}

func (w *WebSocket) count(f func(*WSStats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

func (w *WebSocket) endedErr(op string) error {
	err := w.Err()
	if err == nil {
		err = ErrClosed
	}
	return fmt.Errorf("realtimemodel: %s: %w", op, err)
}

func (w *WebSocket) check(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("realtimemodel: %s: %w", op, err)
	}
	select {
	case <-w.runCtx.Done():
		return w.endedErr(op)
	case <-w.ended:
		return w.endedErr(op)
	default:
		return nil
	}
}

// writeEvent stamps ev with an event id (so error events can name it) and
// writes it. tag is CreateResponse's, for a response.create.
func (w *WebSocket) writeEvent(ctx context.Context, op string, ev ClientEvent, tag string) error {
	id := "evt_" + strconv.FormatInt(w.nEvent.Add(1), 10)
	var pend *pendingCreate
	switch e := ev.(type) {
	case *InputAudioBufferCommit:
		e.EventID = id
	case *InputAudioBufferClear:
		e.EventID = id
	case *ResponseCreate:
		e.EventID = id
		pend = &pendingCreate{eventID: id, tag: tag}
	case *ResponseCancel:
		e.EventID = id
	case *OutputAudioBufferClear:
		e.EventID = id
	}
	b, err := EncodeClientEvent(ev)
	if err != nil {
		return fmt.Errorf("realtimemodel: %s: %w", op, err)
	}
	return w.write(ctx, op, b, pend)
}

// write sends one message on the current connection. A write cut short
// (ctx, WriteTimeout, network) cuts the connection, because a partial
// frame cannot be taken back; the reader notices and reconnects. pend,
// for a response.create, is recorded before the write, so the service's
// answer cannot overtake it, and withdrawn if the write fails.
func (w *WebSocket) write(ctx context.Context, op string, msg []byte, pend *pendingCreate) error {
	if err := w.check(ctx, op); err != nil {
		return err
	}
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	w.mu.Lock()
	conn, gen := w.conn, w.gen
	if conn != nil && pend != nil {
		w.pending = pend
	}
	w.mu.Unlock()
	if conn == nil {
		return fmt.Errorf("realtimemodel: %s: %w", op, ErrDisconnected)
	}
	wctx, cancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
	err := conn.Write(wctx, websocket.MessageText, msg)
	cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil || w.gen != gen {
		if pend != nil && w.pending == pend {
			w.pending = nil
		}
	}
	if err != nil {
		_ = conn.CloseNow()
		if ctx.Err() != nil {
			return fmt.Errorf("realtimemodel: %s: %w", op, ctx.Err())
		}
		return fmt.Errorf("realtimemodel: %s: %w: %w", op, ErrDisconnected, w.cfg.scrub(err))
	}
	if w.gen != gen {
		// The connection was lost while we wrote: the service may never
		// have seen the event.
		return fmt.Errorf("realtimemodel: %s: %w", op, ErrDisconnected)
	}
	return nil
}

// ---- the loop: reads, reconnects, ends ----

func (w *WebSocket) run(conn *websocket.Conn) {
	// On return, in this order: methods refuse work, Events is closed (err
	// is set by then), Close may return.
	defer close(w.exited)
	defer close(w.events)
	defer close(w.ended)
	defer w.closeIdle()
	defer func() {
		if w.slow != nil {
			w.slow.Stop()
		}
		w.mu.Lock()
		c := w.conn
		w.conn = nil
		w.gen++
		w.mu.Unlock()
		if c != nil {
			_ = c.CloseNow()
		}
	}()
	failures := 0
	for {
		got, ok, err := w.read(conn)
		if !ok {
			return
		}
		if got {
			failures = 0
		}
		lost := w.drop(conn)
		w.log.Warn("realtime upstream connection lost", zap.Error(w.cfg.scrub(err)), zap.Bool("responseLost", lost != nil))
		if lost != nil && !w.deliver(w.failedDone(lost)) {
			return
		}
		if w.cfg.Reconnect.Disabled {
			w.setErr(fmt.Errorf("%w: connection lost: %w", ErrUpstreamFailed, w.cfg.scrub(err)))
			return
		}
		conn, err = w.connect(w.runCtx, &failures)
		if err != nil {
			w.setErr(err) // ErrClosed if Close came first
			return
		}
		w.log.Info("realtime upstream reconnected")
	}
}

// read delivers the connection's events until it fails (ok true: go on
// and reconnect) or the upstream ends (ok false). got reports whether any
// event arrived.
func (w *WebSocket) read(conn *websocket.Conn) (got, ok bool, err error) {
	for {
		typ, data, err := conn.Read(w.runCtx)
		if err != nil {
			if w.runCtx.Err() != nil {
				return got, false, err
			}
			return got, true, err
		}
		if typ != websocket.MessageText {
			w.count(func(s *WSStats) { s.ParseErrors++ })
			continue
		}
		ev, err := ParseServerEvent(data)
		if err != nil {
			// One bad event is the service's bug, not a reason to drop
			// the call; the type (never the content) is logged.
			w.count(func(s *WSStats) { s.ParseErrors++ })
			var pe *ParseError
			if errors.As(err, &pe) {
				w.log.Warn("realtime server event refused", zap.String("type", pe.Type), zap.String("kind", pe.Kind.Error()))
			}
			continue
		}
		got = true
		w.track(ev)
		if !w.deliver(ev) {
			return got, false, nil
		}
	}
}

// track follows the response lifecycle, so a lost connection can end the
// response it cut.
func (w *WebSocket) track(ev ServerEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch v := ev.Value.(type) {
	case *ResponseCreated:
		r := v.Response
		w.active, w.pending = &r, nil
	case *ResponseDone:
		if w.active == nil || w.active.ID == v.Response.ID {
			w.active = nil
		}
		w.pending = nil
	case *ErrorEvent:
		if w.pending != nil && v.Error.EventID == w.pending.eventID {
			w.pending = nil // the service refused our response.create
		}
	}
}

// drop retires a lost connection and returns the response it cut, if any.
func (w *WebSocket) drop(conn *websocket.Conn) *Response {
	_ = conn.CloseNow()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conn = nil
	w.gen++
	w.stats.Drops++
	var lost *Response
	switch {
	case w.active != nil:
		lost = w.active
	case w.pending != nil:
		lost = &Response{ID: "resp_lost_" + strconv.Itoa(w.gen)}
		if w.pending.tag != "" {
			lost.Metadata = map[string]string{MetadataTagKey: w.pending.tag}
		}
	}
	w.active, w.pending = nil, nil
	if lost != nil {
		w.stats.FailedResponses++
	}
	return lost
}

// failedDone is the response.done "failed" that ends a response whose
// connection was lost.
func (w *WebSocket) failedDone(r *Response) ServerEvent {
	v := &ResponseDone{
		EventID: "event_local_" + strconv.FormatInt(w.nEvent.Add(1), 10),
		Type:    TypeResponseDone,
		Response: Response{
			ID: r.ID, Object: "realtime.response", Status: StatusFailed,
			StatusDetails: &StatusDetails{Type: StatusFailed, Reason: ReasonUpstreamLost,
				Error: &StatusError{Type: "connection_error", Code: CodeUpstreamDisconnected}},
			OutputModalities: r.OutputModalities, Metadata: r.Metadata,
			Usage: &Usage{},
		},
	}
	raw, err := json.Marshal(v)
	if err != nil { // our own type always marshals
		raw = []byte(`{"type":"response.done"}`)
	}
	return ServerEvent{Type: TypeResponseDone, Raw: raw, Value: v}
}

// connect dials until a connection is up, the attempts of the policy are
// spent (ErrUpstreamFailed), the credentials are refused
// (ErrUnauthorized, not retried) or ctx ends. failures carries the count
// across outages.
func (w *WebSocket) connect(ctx context.Context, failures *int) (*websocket.Conn, error) {
	var last error
	for *failures < w.cfg.Reconnect.Attempts {
		if *failures > 0 || w.Stats().Drops > 0 {
			t := time.NewTimer(w.backoff(*failures + 1))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, w.stopped(ctx)
			case <-w.runCtx.Done():
				t.Stop()
				return nil, w.stopped(ctx)
			}
		}
		*failures++
		conn, err := w.dial(ctx)
		if err == nil {
			return conn, nil
		}
		if ctx.Err() != nil || w.runCtx.Err() != nil {
			return nil, w.stopped(ctx)
		}
		last = err
		w.log.Warn("realtime upstream connect failed", zap.Int("attempt", *failures), zap.Error(err))
		if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrHandshakeRefused) {
			return nil, fmt.Errorf("%w: %w", ErrUpstreamFailed, err)
		}
	}
	return nil, fmt.Errorf("%w after %d connection attempts: %w", ErrUpstreamFailed, *failures, last)
}

func (w *WebSocket) stopped(ctx context.Context) error {
	if w.runCtx.Err() != nil {
		return ErrClosed
	}
	return fmt.Errorf("realtimemodel: connect: %w", ctx.Err())
}

// backoff is the wait before attempt n (n ≥ 1): MinBackoff doubled per
// attempt, capped at MaxBackoff, with jitter over its upper half so many
// sessions cut at once do not reconnect in step.
func (w *WebSocket) backoff(n int) time.Duration {
	d := w.cfg.Reconnect.MinBackoff
	for i := 1; i < n && d < w.cfg.Reconnect.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.cfg.Reconnect.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// dial makes one connection attempt and sends session.update on it
// before it is published, so no client event precedes it.
func (w *WebSocket) dial(ctx context.Context) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.DialTimeout)
	defer cancel()
	stopDial := context.AfterFunc(w.runCtx, cancel)
	defer stopDial()
	h := http.Header{}
	for k, vs := range w.cfg.Header {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	if w.cfg.APIKey != "" {
		h.Set("Authorization", "Bearer "+w.cfg.APIKey)
	}
	conn, resp, err := websocket.Dial(ctx, w.cfg.URL, &websocket.DialOptions{HTTPClient: w.client, HTTPHeader: h})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			switch s := resp.StatusCode; {
			case s == http.StatusUnauthorized || s == http.StatusForbidden:
				return nil, fmt.Errorf("%w: HTTP %d at the handshake (check the API key)", ErrUnauthorized, s)
			case s >= 400 && s < 500 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests:
				return nil, fmt.Errorf("%w: HTTP %d at the handshake (check the URL and model)", ErrHandshakeRefused, s)
			}
			return nil, fmt.Errorf("HTTP %d at the handshake", resp.StatusCode)
		}
		return nil, w.cfg.scrub(err)
	}
	conn.SetReadLimit(w.cfg.MaxMessageBytes)
	b, err := EncodeClientEvent(NewSessionUpdate(w.cfg.Instructions, w.cfg.Voice))
	if err == nil {
		wctx, wcancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
		err = conn.Write(wctx, websocket.MessageText, b)
		wcancel()
	}
	if err != nil {
		_ = conn.CloseNow()
		return nil, fmt.Errorf("send session.update: %w", w.cfg.scrub(err))
	}
	w.mu.Lock()
	w.conn = conn
	w.stats.Connects++
	w.mu.Unlock()
	return conn, nil
}

func (w *WebSocket) closeIdle() {
	if w.own {
		w.client.CloseIdleConnections()
	}
}

// deliver sends ev on Events, waiting at most SlowConsumerTimeout for
// room; false ends the loop.
func (w *WebSocket) deliver(ev ServerEvent) bool {
	select {
	case w.events <- ev:
		return true
	default:
	}
	if w.slow == nil {
		w.slow = time.NewTimer(w.cfg.SlowConsumerTimeout)
	} else {
		w.slow.Reset(w.cfg.SlowConsumerTimeout)
	}
	select {
	case w.events <- ev:
		w.slow.Stop()
		return true
	case <-w.runCtx.Done():
		return false
	case <-w.slow.C:
		w.setErr(fmt.Errorf("%w: %d events unread for %v", ErrSlowConsumer, cap(w.events), w.cfg.SlowConsumerTimeout))
		return false
	}
}
