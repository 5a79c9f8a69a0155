// Package realtimetest is a fake realtime service for tests: an
// httptest-based WebSocket server that speaks the realtime event protocol
// (session.created/updated, input_audio_buffer.*, response.* with audio
// and transcript deltas and usage, error and rate_limits.updated events)
// and can be scripted to misbehave: refuse the API key, answer with error
// events, stream slowly, cut the connection mid-response or refuse new
// connections. It records every client event it received, so a test can
// check what a client sent.
package realtimetest

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/inferflow/inferflow/internal/realtimemodel"
)

// Behavior scripts how the server answers. Zero fields take defaults.
type Behavior struct {
	// Deltas is the number of audio deltas in a response; default 4.
	Deltas int
	// DeltaSamples is the audio in one delta, at ServiceRate; default 960
	// (40 ms).
	DeltaSamples int
	// DeltaInterval is the pause before each delta: a slow stream.
	DeltaInterval time.Duration
	// Words are the transcript, one word before each delta while they
	// last; default "hello", "from", "the", "fake".
	Words []string
	// DropAfterDeltas > 0 cuts the connection (no close frame) right after
	// that many deltas of a response, as a network failure would.
	DropAfterDeltas int
	// CreateError, when set, answers response.create with this error event
	// instead of a response.
	CreateError *realtimemodel.ErrorDetail
	// DropOnCreate cuts the connection on response.create, before
	// response.created: the response was asked for and never began.
	DropOnCreate bool
	// NoRateLimits leaves out rate_limits.updated after response.created.
	NoRateLimits bool
}

func (b Behavior) withDefaults() Behavior {
	if b.Deltas <= 0 {
		b.Deltas = 4
	}
	if b.DeltaSamples <= 0 {
		b.DeltaSamples = 960
	}
	if b.Words == nil {
		b.Words = []string{"hello", "from", "the", "fake"}
	}
	return b
}

// Received is one client event the server got.
type Received struct {
	Conn  int    // connection number, from 1
	Type  string // the event's type
	Raw   []byte
	Event realtimemodel.ClientEvent // parsed; nil if it did not parse
}

// Server is a fake realtime service. Its methods are safe for concurrent
// use.
type Server struct {
	ts     *httptest.Server
	apiKey string

	mu       sync.Mutex
	beh      Behavior
	refuse   int
	closed   bool
	conns    map[int]*conn
	nConn    int
	nResp    int
	nEvent   int
	received []Received
	headers  []http.Header
	wg       sync.WaitGroup // handlers and response streams
}

// NewServer starts a fake service that accepts connections whose
// Authorization is "Bearer "+apiKey (any, when apiKey is empty) and
// answers per b. Close it when done.
func NewServer(apiKey string, b Behavior) *Server {
	s := &Server{apiKey: apiKey, beh: b.withDefaults(), conns: map[int]*conn{}}
	s.ts = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// URL is the service's WebSocket URL (ws://127.0.0.1:port/v1/realtime).
func (s *Server) URL() string {
	return "ws" + strings.TrimPrefix(s.ts.URL, "http") + "/v1/realtime"
}

// SetBehavior changes how later events are answered.
func (s *Server) SetBehavior(b Behavior) {
	s.mu.Lock()
	s.beh = b.withDefaults()
	s.mu.Unlock()
}

// Refuse answers new handshakes with HTTP status (e.g. 503); 0 accepts
// them again.
func (s *Server) Refuse(status int) {
	s.mu.Lock()
	s.refuse = status
	s.mu.Unlock()
}

// Drop cuts every open connection without a close frame.
func (s *Server) Drop() {
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		_ = c.ws.CloseNow()
	}
}

// Send sends a server event (e.g. an *ErrorEvent or *RateLimitsUpdated)
// on every open connection; its type and event id are filled in.
func (s *Server) Send(v realtimemodel.ServerMessage) error {
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	if len(cs) == 0 {
		return errors.New("realtimetest: no open connection")
	}
	for _, c := range cs {
		c.mu.Lock()
		err := c.emit(v)
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// Received returns the client events received so far, in order.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// ReceivedTypes returns the types of the client events received so far.
func (s *Server) ReceivedTypes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := make([]string, len(s.received))
	for i, r := range s.received {
		t[i] = r.Type
	}
	return t
}

// Connections is the number of connections accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nConn
}

// Open is the number of connections open now.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Headers returns the handshake headers of every request, accepted or not.
func (s *Server) Headers() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.headers...)
}

// Close cuts every connection, stops the server and waits for its
// goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.Drop()
	s.ts.Close()
	s.wg.Wait()
}

// conn is one accepted connection. mu orders its writes with its state, so
// a cancelled response sends nothing after its response.done.
type conn struct {
	s  *Server
	n  int
	ws *websocket.Conn

	mu        sync.Mutex
	input     int64 // uncommitted samples
	committed int64 // committed, not yet answered
	active    *response
	lastResp  string
}

type response struct {
	id, item string
	meta     map[string]string
	input    int64
	sent     int64 // samples sent
	stop     chan struct{}
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.headers = append(s.headers, r.Header.Clone())
	refuse, closed := s.refuse, s.closed
	if !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	defer s.wg.Done()
	if refuse != 0 {
		http.Error(w, `{"error":{"type":"server_error","message":"refused by the test"}}`, refuse)
		return
	}
	if s.apiKey != "" && r.Header.Get("Authorization") != "Bearer "+s.apiKey {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","code":"invalid_api_key","message":"Incorrect API key provided."}}`))
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(4 << 20)
	s.mu.Lock()
	s.nConn++
	c := &conn{s: s, n: s.nConn, ws: ws}
	s.conns[c.n] = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c.n)
		s.mu.Unlock()
		c.stopActive()
	}()
	model := r.URL.Query().Get("model")
	c.mu.Lock()
	err = c.emit(&realtimemodel.SessionCreated{Session: session(model, &realtimemodel.TurnDetection{Type: "server_vad"})})
	c.mu.Unlock()
	if err != nil {
		return
	}
	for {
		typ, data, err := ws.Read(context.Background())
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			continue
		}
		ev, perr := realtimemodel.ParseClientEvent(data)
		rec := Received{Conn: c.n, Raw: data, Event: ev}
		if perr == nil {
			rec.Type = ev.ClientEventType()
		}
		s.mu.Lock()
		s.received = append(s.received, rec)
		b := s.beh
		s.mu.Unlock()
		c.mu.Lock()
		if perr != nil {
			err = c.emitError("invalid_request_error", "invalid_event", perr.Error(), "")
		} else {
			err = c.apply(ev, model, b)
		}
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func session(model string, td *realtimemodel.TurnDetection) realtimemodel.Session {
	pcm := &realtimemodel.AudioFormat{Type: realtimemodel.AudioFormatPCM, Rate: realtimemodel.ServiceRate}
	return realtimemodel.Session{Type: "realtime", ID: "sess_fake", Object: "realtime.session", Model: model,
		OutputModalities: []string{"audio"},
		Audio: &realtimemodel.SessionAudio{
			Input:  &realtimemodel.AudioInput{Format: pcm, TurnDetection: td},
			Output: &realtimemodel.AudioOutput{Format: pcm, Voice: "alloy"},
		}}
}

// apply answers one client event; c.mu is held.
func (c *conn) apply(ev realtimemodel.ClientEvent, model string, b Behavior) error {
	switch e := ev.(type) {
	case *realtimemodel.SessionUpdate:
		var td *realtimemodel.TurnDetection
		if e.Session.Audio != nil && e.Session.Audio.Input != nil {
			td = e.Session.Audio.Input.TurnDetection
		}
		sess := session(model, td)
		sess.Instructions = e.Session.Instructions
		if e.Session.Audio != nil && e.Session.Audio.Output != nil && e.Session.Audio.Output.Voice != "" {
			sess.Audio.Output.Voice = e.Session.Audio.Output.Voice
		}
		return c.emit(&realtimemodel.SessionUpdated{Session: sess})
	case *realtimemodel.InputAudioBufferAppend:
		pcm, err := realtimemodel.DecodeAudio(e.Audio)
		if err != nil {
			return c.emitError("invalid_request_error", "invalid_audio", err.Error(), e.EventID)
		}
		c.input += int64(len(pcm))
		return nil
	case *realtimemodel.InputAudioBufferCommit:
		if c.input < realtimemodel.SamplesOf(realtimemodel.MinCommitDuration) {
			return c.emitError("invalid_request_error", realtimemodel.CodeCommitEmpty, "buffer too small", e.EventID)
		}
		c.committed += c.input
		c.input = 0
		return c.emit(&realtimemodel.InputAudioBufferCommitted{ItemID: "item_in_" + strconv.Itoa(c.n)})
	case *realtimemodel.InputAudioBufferClear:
		c.input = 0
		return c.emit(&realtimemodel.InputAudioBufferCleared{})
	case *realtimemodel.ResponseCreate:
		if b.DropOnCreate {
			_ = c.ws.CloseNow()
			return errors.New("realtimetest: dropped on response.create")
		}
		if b.CreateError != nil {
			d := *b.CreateError
			d.EventID = e.EventID
			return c.emit(&realtimemodel.ErrorEvent{Error: d})
		}
		if c.active != nil {
			return c.emitError("invalid_request_error", realtimemodel.CodeActiveResponse,
				"conversation already has an active response "+c.active.id, e.EventID)
		}
		c.s.mu.Lock()
		c.s.nResp++
		id := "resp_fake_" + strconv.Itoa(c.s.nResp)
		c.s.wg.Add(1)
		c.s.mu.Unlock()
		r := &response{id: id, item: "item_out_" + id, input: c.committed, stop: make(chan struct{})}
		if e.Response != nil && len(e.Response.Metadata) > 0 {
			r.meta = e.Response.Metadata
		}
		c.committed = 0
		c.active, c.lastResp = r, id
		err := c.emit(&realtimemodel.ResponseCreated{Response: realtimemodel.Response{ID: id, Object: "realtime.response",
			Status: realtimemodel.StatusInProgress, OutputModalities: []string{"audio"}, Metadata: r.meta}})
		if err == nil && !b.NoRateLimits {
			err = c.emit(&realtimemodel.RateLimitsUpdated{RateLimits: []realtimemodel.RateLimit{
				{Name: "requests", Limit: 1000, Remaining: 999, ResetSeconds: 60},
				{Name: "tokens", Limit: 100000, Remaining: 99000, ResetSeconds: 60},
			}})
		}
		go c.stream(r, b)
		return err
	case *realtimemodel.ResponseCancel:
		r := c.active
		if r == nil {
			return c.emitError("invalid_request_error", realtimemodel.CodeCancelNotActive, "no active response", e.EventID)
		}
		c.active = nil
		close(r.stop)
		return c.emit(&realtimemodel.ResponseDone{Response: final(r, realtimemodel.StatusCancelled,
			&realtimemodel.StatusDetails{Type: realtimemodel.StatusCancelled, Reason: "client_cancelled"})})
	case *realtimemodel.OutputAudioBufferClear:
		return c.emit(&realtimemodel.OutputAudioBufferCleared{ResponseID: c.lastResp})
	}
	return nil
}

func final(r *response, status string, d *realtimemodel.StatusDetails) realtimemodel.Response {
	u := realtimemodel.SimUsage(r.input, r.sent)
	return realtimemodel.Response{ID: r.id, Object: "realtime.response", Status: status, StatusDetails: d,
		OutputModalities: []string{"audio"}, Metadata: r.meta, Usage: &u}
}

// stream sends a response's deltas, then its end, unless it is cancelled
// or the connection goes.
func (c *conn) stream(r *response, b Behavior) {
	defer c.s.wg.Done()
	var t *time.Timer
	if b.DeltaInterval > 0 {
		t = time.NewTimer(b.DeltaInterval)
		defer t.Stop()
	}
	pcm := make([]int16, b.DeltaSamples)
	for i := 0; i < b.Deltas; i++ {
		if t != nil {
			if i > 0 {
				t.Reset(b.DeltaInterval)
			}
			select {
			case <-t.C:
			case <-r.stop:
				return
			}
		}
		for j := range pcm { // a 220 Hz tone, continuous across deltas
			k := float64(int(r.sent) + j)
			pcm[j] = int16(8000 * math.Sin(2*math.Pi*220*k/realtimemodel.ServiceRate))
		}
		c.mu.Lock()
		if c.active != r {
			c.mu.Unlock()
			return
		}
		var err error
		if i < len(b.Words) {
			err = c.emit(&realtimemodel.ResponseOutputAudioTranscriptDelta{ResponseID: r.id, ItemID: r.item, Delta: b.Words[i]})
		}
		if err == nil {
			err = c.emit(&realtimemodel.ResponseOutputAudioDelta{ResponseID: r.id, ItemID: r.item,
				Delta: realtimemodel.EncodeAudio(pcm)})
		}
		r.sent += int64(len(pcm))
		if err == nil && b.DropAfterDeltas > 0 && i+1 == b.DropAfterDeltas {
			c.active = nil
			c.mu.Unlock()
			_ = c.ws.CloseNow()
			return
		}
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active != r {
		return
	}
	c.active = nil
	if c.emit(&realtimemodel.ResponseOutputAudioDone{ResponseID: r.id, ItemID: r.item}) == nil {
		_ = c.emit(&realtimemodel.ResponseDone{Response: final(r, realtimemodel.StatusCompleted, nil)})
	}
}

func (c *conn) stopActive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active != nil {
		close(c.active.stop)
		c.active = nil
	}
}

func (c *conn) emitError(typ, code, msg, eventID string) error {
	return c.emit(&realtimemodel.ErrorEvent{Error: realtimemodel.ErrorDetail{Type: typ, Code: code, Message: msg, EventID: eventID}})
}

// emit stamps and writes one server event; c.mu is held.
func (c *conn) emit(v realtimemodel.ServerMessage) error {
	c.s.mu.Lock()
	c.s.nEvent++
	id := "event_fake_" + strconv.Itoa(c.s.nEvent)
	c.s.mu.Unlock()
	typ := v.ServerEventType()
	switch e := v.(type) {
	case *realtimemodel.SessionCreated:
		e.EventID, e.Type = id, typ
	case *realtimemodel.SessionUpdated:
		e.EventID, e.Type = id, typ
	case *realtimemodel.InputAudioBufferCommitted:
		e.EventID, e.Type = id, typ
	case *realtimemodel.InputAudioBufferCleared:
		e.EventID, e.Type = id, typ
	case *realtimemodel.ResponseCreated:
		e.EventID, e.Type = id, typ
	case *realtimemodel.ResponseOutputAudioDelta:
		e.EventID, e.Type = id, typ
	case *realtimemodel.ResponseOutputAudioDone:
		e.EventID, e.Type = id, typ
	case *realtimemodel.ResponseOutputAudioTranscriptDelta:
		e.EventID, e.Type = id, typ
	case *realtimemodel.ResponseDone:
		e.EventID, e.Type = id, typ
	case *realtimemodel.OutputAudioBufferCleared:
		e.EventID, e.Type = id, typ
	case *realtimemodel.ErrorEvent:
		e.EventID, e.Type = id, typ
	case *realtimemodel.RateLimitsUpdated:
		e.EventID, e.Type = id, typ
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}
