// Package rtc is the project's only door to WebRTC (Pion): a WHIP (RFC 9725)
// endpoint whose sessions hand out the caller's audio as plain RTP fields and
// take encoded Opus for the way back, a non-blocking "events" data channel,
// and a Go client for tests, load generation and a command-line caller.
package rtc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"
)

// deleteWait bounds how long DELETE waits for the session's slot to free.
const deleteWait = 2 * time.Second

// WHIPPath is where the Handler takes offers; sessions live under WHIPPath/<id>.
const WHIPPath = "/whip"

// Server accepts WHIP offers and runs one Session per caller.
type Server struct {
	cfg       Config
	log       *zap.Logger
	api       *webrtc.API
	closeMux  func() error
	onSession func(ctx context.Context, s *Session)

	muxOnce sync.Once
	limits  *tokenLimits

	mu       sync.Mutex
	closed   bool
	sessions map[string]*Session
	pending  int            // admitted offers not yet answered
	perToken map[string]int // sessions (pending or live) per token
	wg       sync.WaitGroup // session lifetimes incl. their onSession callback
}

// NewServer validates cfg and returns a server. onSession runs on its own
// goroutine for every established session; it should return soon after
// ctx (the session's context) is cancelled.
func NewServer(cfg Config, onSession func(ctx context.Context, s *Session)) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if onSession == nil {
		return nil, &ConfigError{"onSession", "a session handler is required"}
	}
	tokens := make(map[string]string, len(cfg.Tokens))
	for k, v := range cfg.Tokens {
		tokens[k] = v
	}
	cfg.Tokens = tokens
	api, closeMux, err := newAPI(cfg.Network, cfg.Logger, nil)
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg: cfg, log: cfg.Logger, api: api, closeMux: closeMux, onSession: onSession,
		sessions: map[string]*Session{}, perToken: map[string]int{},
		limits: newTokenLimits(tokens, cfg.RequestsPerMinute, cfg.RequestBurst),
	}, nil
}

// Handler serves POST /whip (offer -> 201 answer), GET /whip/<id> (the
// session's snapshot as JSON) and DELETE /whip/<id>, all with the bearer
// token; it expects the unmodified request path, so mount it at both
// WHIPPath and WHIPPath+"/" (or at "/"). Errors are JSON {"error","message"}.
func (srv *Server) Handler() http.Handler { return http.HandlerFunc(srv.serveHTTP) }

// Session returns a live session by id.
func (srv *Server) Session(id string) (*Session, bool) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s, ok := srv.sessions[id]
	return s, ok
}

// Len is the number of live sessions.
func (srv *Server) Len() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.sessions)
}

// Close refuses new offers, ends every session and waits, bounded by ctx,
// until each is freed and its onSession callback returned.
func (srv *Server) Close(ctx context.Context) error {
	srv.mu.Lock()
	srv.closed = true
	live := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		live = append(live, s)
	}
	srv.mu.Unlock()
	for _, s := range live {
		s.Close("server closed")
	}
	done := make(chan struct{})
	go func() { srv.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("rtc: close: sessions still running: %w", ctx.Err())
	}
	var err error
	srv.muxOnce.Do(func() { err = srv.closeMux() })
	if err != nil {
		return fmt.Errorf("rtc: close ICE UDP mux: %w", err)
	}
	return nil
}

// errorBody is every error answer's JSON body.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: code, Message: msg})
}

func (srv *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == WHIPPath:
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+WHIPPath)
			return
		}
		srv.handleOffer(w, r)
	case strings.HasPrefix(r.URL.Path, WHIPPath+"/"):
		id := strings.TrimPrefix(r.URL.Path, WHIPPath+"/")
		switch r.Method {
		case http.MethodGet, http.MethodDelete:
			srv.handleResource(w, r, id)
		default:
			w.Header().Set("Allow", "GET, DELETE")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on a session (no trickle ICE)")
		}
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such resource")
	}
}

// authenticate returns the token's user id. Every token is compared in
// constant time so response timing does not reveal prefixes.
func (srv *Server) authenticate(w http.ResponseWriter, r *http.Request) (token, user string, ok bool) {
	h := r.Header.Get("Authorization")
	scheme, cred, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || cred == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="whip"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing bearer token")
		return "", "", false
	}
	cred = strings.TrimSpace(cred)
	for tok, u := range srv.cfg.Tokens {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(cred)) == 1 {
			token, user = tok, u
		}
	}
	if user == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="whip", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "unknown bearer token")
		return "", "", false
	}
	if wait, ok := srv.limits.allow(token); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
		writeError(w, http.StatusTooManyRequests, "rate_limited",
			fmt.Sprintf("this token is over its request rate on the signalling endpoint (%d a minute, bursts of %d)",
				srv.cfg.RequestsPerMinute, srv.cfg.RequestBurst))
		return "", "", false
	}
	return token, user, true
}

func (srv *Server) handleResource(w http.ResponseWriter, r *http.Request, id string) {
	token, _, ok := srv.authenticate(w, r)
	if !ok {
		return
	}
	s, found := srv.Session(id)
	// Another token's session is reported as absent, not as forbidden.
	if !found || subtle.ConstantTimeCompare([]byte(s.token), []byte(token)) != 1 {
		writeError(w, http.StatusNotFound, "not_found", "no such session")
		return
	}
	if r.Method == http.MethodDelete {
		s.Close("deleted by caller")
		// Answer once the slot is free (bounded), so that a caller may
		// reconnect at once without meeting its own session in the limits.
		t := time.NewTimer(deleteWait)
		defer t.Stop()
		select {
		case <-s.released:
		case <-t.C:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	body, err := json.Marshal(s.renderSnapshot())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "snapshot: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

func (srv *Server) handleOffer(w http.ResponseWriter, r *http.Request) {
	token, user, ok := srv.authenticate(w, r)
	if !ok {
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/sdp" {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "the offer must be Content-Type: application/sdp")
		return
	}
	limit := int64(srv.cfg.MaxOfferBytes)
	tooBig := func(size string) {
		// Read what a modest over-size offer still sends, so the caller
		// gets the 413 instead of a connection reset mid-upload.
		_, _ = io.CopyN(io.Discard, r.Body, maxDrainBytes)
		writeError(w, http.StatusRequestEntityTooLarge, "payload_too_large",
			fmt.Sprintf("the SDP offer is %s bytes, over this server's limit of %d bytes", size, limit))
	}
	if r.ContentLength > limit {
		tooBig(strconv.FormatInt(r.ContentLength, 10))
		return
	}
	offer, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err == nil && int64(len(offer)) > limit {
		tooBig("more than " + strconv.FormatInt(limit, 10))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "read offer: "+err.Error())
		return
	}
	hasApp, err := checkOffer(offer)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_offer", err.Error())
		return
	}
	if status, code, msg := srv.admit(token); status != 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(srv.cfg.RetryAfter/time.Second)))
		writeError(w, status, code, msg)
		return
	}
	s, answer, status, err := srv.establish(r.Context(), token, user, string(offer), hasApp)
	if err != nil {
		srv.release(token)
		code := "bad_offer"
		switch status {
		case http.StatusServiceUnavailable:
			code = "unavailable"
			w.Header().Set("Retry-After", strconv.Itoa(int(srv.cfg.RetryAfter/time.Second)))
		case http.StatusInternalServerError:
			code = "internal"
		}
		writeError(w, status, code, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", WHIPPath+"/"+s.id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// OfferError is an SDP offer refused before any peer connection is built
// (answered 400 bad_offer); Err is the parser's error, if any.
type OfferError struct {
	Reason string
	Err    error
}

func (e *OfferError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *OfferError) Unwrap() error { return e.Err }

// checkOffer parses the SDP and insists on an active audio section offering
// Opus (the outbound track is always Opus). It reports whether the offer has
// a data-channel section. A refusal is an *OfferError.
func checkOffer(offer []byte) (hasApp bool, err error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(offer)); err != nil {
		return false, &OfferError{Reason: "unparsable SDP offer", Err: err}
	}
	audio, opus := false, false
	for _, m := range sd.MediaDescriptions {
		switch m.MediaName.Media {
		case "audio":
			if m.MediaName.Port.Value == 0 {
				continue
			}
			audio = true
			for _, a := range m.Attributes {
				if a.Key == "rtpmap" && strings.Contains(strings.ToLower(a.Value), " opus/48000") {
					opus = true
				}
			}
		case "application":
			hasApp = hasApp || m.MediaName.Port.Value != 0
		}
	}
	if !audio {
		return false, &OfferError{Reason: "the offer has no audio m-line"}
	}
	if !opus {
		return false, &OfferError{Reason: "the offer's audio does not include opus/48000"}
	}
	return hasApp, nil
}

// admit reserves a session slot for token or says why not.
func (srv *Server) admit(token string) (status int, code, msg string) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	switch {
	case srv.closed:
		return http.StatusServiceUnavailable, "unavailable", "the server is shutting down"
	case len(srv.sessions)+srv.pending >= srv.cfg.MaxSessions:
		return http.StatusTooManyRequests, "too_many_sessions", fmt.Sprintf("the server runs its maximum of %d sessions", srv.cfg.MaxSessions)
	case srv.perToken[token] >= srv.cfg.MaxSessionsPerToken:
		return http.StatusTooManyRequests, "too_many_sessions", fmt.Sprintf("this token already runs its maximum of %d sessions", srv.cfg.MaxSessionsPerToken)
	}
	srv.pending++
	srv.perToken[token]++
	srv.wg.Add(1) // Close waits for offers being answered, too
	return 0, "", ""
}

// release gives back a slot reserved by admit for an offer that failed.
func (srv *Server) release(token string) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.pending--
	srv.dropToken(token)
	srv.wg.Done()
}

func (srv *Server) dropToken(token string) {
	if srv.perToken[token]--; srv.perToken[token] <= 0 {
		delete(srv.perToken, token)
	}
}

func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// establish builds the peer connection, answers the offer and, on success,
// registers and starts the session. On error nothing is left behind; the
// status says whose fault it was.
func (srv *Server) establish(ctx context.Context, token, user, offer string, hasApp bool) (*Session, string, int, error) {
	id, err := newSessionID()
	if err != nil {
		return nil, "", http.StatusInternalServerError, fmt.Errorf("session id: %w", err)
	}
	pc, err := srv.api.NewPeerConnection(webrtc.Configuration{ICEServers: srv.cfg.iceServers()})
	if err != nil {
		return nil, "", http.StatusInternalServerError, fmt.Errorf("new peer connection: %w", err)
	}
	fail := func(status int, err error) (*Session, string, int, error) {
		_ = pc.Close()
		return nil, "", status, err
	}
	out, err := webrtc.NewTrackLocalStaticSample(opusCodec, "audio", "inferflow-"+id)
	if err != nil {
		return fail(http.StatusInternalServerError, fmt.Errorf("outbound track: %w", err))
	}
	sender, err := pc.AddTrack(out)
	if err != nil {
		return fail(http.StatusInternalServerError, fmt.Errorf("add outbound track: %w", err))
	}
	sctx, cancel := context.WithCancelCause(context.Background())
	s := &Session{
		id: id, userID: user, token: token, created: time.Now(), cfg: &srv.cfg,
		log: srv.log.With(zap.String("session", id), zap.String("user", user)),
		ctx: sctx, cancel: cancel, pc: pc, out: out, sender: sender,
		packets: make(chan Packet, srv.cfg.PacketQueue), events: make(chan []byte, srv.cfg.EventQueue),
		inbox:    make(chan []byte, srv.cfg.EventQueue),
		codecSet: make(chan struct{}), dcReady: make(chan struct{}), hasApp: hasApp,
		done: make(chan struct{}), handlerDone: make(chan struct{}), released: make(chan struct{}),
	}
	s.wire()
	abort := func(status int, err error) (*Session, string, int, error) {
		s.Close("setup failed")
		s.teardown()
		return nil, "", status, err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return abort(http.StatusBadRequest, fmt.Errorf("apply offer: %w", err))
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return abort(http.StatusBadRequest, fmt.Errorf("create answer: %w", err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return abort(http.StatusInternalServerError, fmt.Errorf("set answer: %w", err))
	}
	timer := time.NewTimer(srv.cfg.GatherTimeout)
	defer timer.Stop()
	select {
	case <-gathered:
	case <-timer.C:
		// Answer with the candidates found so far rather than fail.
		s.log.Warn("ICE gathering timed out; answering with partial candidates")
	case <-ctx.Done():
		return abort(http.StatusBadRequest, fmt.Errorf("caller went away during ICE gathering: %w", ctx.Err()))
	}
	ld := pc.LocalDescription()
	if ld == nil {
		return abort(http.StatusInternalServerError, errors.New("no local description"))
	}

	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		return abort(http.StatusServiceUnavailable, errors.New("the server is shutting down"))
	}
	// The slot admit reserved (and its wg count) now belongs to the session.
	srv.pending--
	srv.sessions[id] = s
	srv.mu.Unlock()

	s.goTracked(s.drainEvents)
	s.goTracked(func() { readRTCP(sender) })
	// Freed resources and a returned handler both release the slot.
	freed := make(chan struct{})
	go s.supervise(func() { close(freed) })
	go func() {
		defer close(s.handlerDone)
		srv.runHandler(s)
	}()
	go func() {
		defer srv.wg.Done()
		<-freed
		<-s.handlerDone
		srv.mu.Lock()
		delete(srv.sessions, id)
		srv.dropToken(token)
		srv.mu.Unlock()
		close(s.released)
		st := s.Stats()
		s.log.Info("session ended", zap.String("reason", s.Reason()),
			zap.Uint64("packets_in", st.PacketsIn), zap.Uint64("packets_out", st.PacketsOut),
			zap.Uint64("events_sent", st.EventsSent), zap.Uint64("events_dropped", st.EventsDropped))
	}()
	return s, ld.SDP, 0, nil
}

// runHandler runs onSession; a panic in it ends the session, not the process.
func (srv *Server) runHandler(s *Session) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("session handler panicked", zap.Any("panic", p))
			s.Close("handler panic")
		}
	}()
	srv.onSession(s.ctx, s)
	// Nobody serves the caller any more.
	s.Close("handler returned")
}
