// Package openaitest is a local fake of an OpenAI-compatible
// chat-completions server for tests of inferflow's HTTP provider and of the
// workflows that use it. It speaks the protocol provider.OpenAI speaks,
// answers from per-kind scripts, injects faults (error statuses with
// Retry-After, slow and hanging answers, dropped connections, malformed or
// out-of-range output, missing usage) and records every request, including
// whether the client went away before the answer.
//
// Typical use:
//
//	srv := openaitest.New()
//	defer srv.Close()
//	srv.ForVision().Enqueue(openaitest.Status(503), openaitest.OK(1200, 0.9))
//	srv.ForJudge().SetDefault(openaitest.Judged(1150, 0.8, "3 valuations agree"))
//	set, err := provider.New(srv.Config())
//
// Requests are told apart by shape: a request with an image part is a
// vision request, one whose system prompt carries the "inferflow:judge"
// marker (or that asks for a JSON object without an image) is a judge
// request, anything else is a completion. A request is answered by the
// first of: the responder (SetResponder), its kind's queue, the shared queue
// (Enqueue), its kind's default, the shared default (SetDefault), the
// built-in default success.
//
// All methods are safe for concurrent use.
package openaitest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/inferflow/inferflow/internal/provider"
)

// Kind is what a request asks for.
type Kind string

const (
	KindVision     Kind = "vision"
	KindJudge      Kind = "judge"
	KindCompletion Kind = "completion"
)

// Defaults of the built-in success answers and of Server.Config.
const (
	DefaultVisionValue      = 1000.0
	DefaultVisionConfidence = 0.8
	DefaultJudgeConfidence  = 0.85
	DefaultVisionModel      = "fake-vision"
	DefaultJudgeModel       = "fake-judge"
	DefaultCompletionModel  = "fake-completion"
)

// Request is a recorded request.
type Request struct {
	Kind Kind
	// Model is the request's "model" field.
	Model string
	// Authorization is the raw Authorization header ("" when absent).
	Authorization string
	// RequestID is the X-Request-ID header.
	RequestID string
	// Path is the URL path the request was sent to (any root before
	// /chat/completions is served, so clients can be told apart by it).
	Path string
	// ResponseFormat is response_format.type ("" when absent).
	ResponseFormat string
	// ImageURL is the image part's url with its base64 payload cut off
	// ("data:image/png;base64,"); MediaType and Image are parsed from it.
	ImageURL  string
	MediaType string
	Image     []byte
	// SystemPrompt and Prompt are the system message and the user text.
	SystemPrompt string
	Prompt       string
	// Valuations are the judge input parsed from the user message.
	Valuations []provider.Valuation
	MaxTokens  int
	// Body is the raw request body.
	Body []byte
	// Aborted is set when the client went away before the answer, at
	// AbortedAt (when the server noticed).
	Aborted   bool
	AbortedAt time.Time
	// Received is when the request arrived.
	Received time.Time
}

// Script is the answer plan for one kind of request (or for all kinds).
type Script struct {
	s    *Server
	kind Kind // "" = shared
}

// Enqueue appends one-shot responses, consumed in order.
func (sc *Script) Enqueue(rs ...Response) {
	sc.s.mu.Lock()
	defer sc.s.mu.Unlock()
	sc.s.queues[sc.kind] = append(sc.s.queues[sc.kind], rs...)
}

// SetDefault sets the response used when the queues are empty.
func (sc *Script) SetDefault(r Response) {
	sc.s.mu.Lock()
	defer sc.s.mu.Unlock()
	sc.s.defaults[sc.kind] = r
}

// Pending returns how many queued responses are not yet consumed.
func (sc *Script) Pending() int {
	sc.s.mu.Lock()
	defer sc.s.mu.Unlock()
	return len(sc.s.queues[sc.kind])
}

// Server is the fake. Create it with New and Close it when done.
type Server struct {
	ts        *httptest.Server
	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	apiKey   string
	queues   map[Kind][]Response
	defaults map[Kind]Response
	requests []Request
	aborted  int
	changed  chan struct{} // closed and replaced on every recorded event
	// LimitRate: at most rateLimit answers in any second (0: no limit);
	// accepted holds the last second's accepted arrivals.
	rateLimit   int
	accepted    []time.Time
	rateLimited int
	// responder answers before the scripts (SetResponder).
	responder func(Request) (Response, bool)
}

// New starts a fake server on a loopback port.
func New() *Server {
	s := &Server{
		closing:  make(chan struct{}),
		queues:   map[Kind][]Response{},
		defaults: map[Kind]Response{},
		changed:  make(chan struct{}),
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// URL is the API root to use as provider Config.BaseURL; requests go to
// URL()+"/chat/completions".
func (s *Server) URL() string { return s.ts.URL + "/v1" }

// Config is a provider configuration pointing at this server, with the
// fake model ids and a short HTTP timeout.
func (s *Server) Config() provider.Config {
	s.mu.Lock()
	key := s.apiKey
	s.mu.Unlock()
	return provider.Config{
		Kind:            provider.KindOpenAI,
		BaseURL:         s.URL(),
		APIKey:          key,
		VisionModel:     DefaultVisionModel,
		JudgeModel:      DefaultJudgeModel,
		CompletionModel: DefaultCompletionModel,
		Judge:           provider.JudgeModel,
		HTTPTimeout:     10 * time.Second,
	}
}

// Close stops the server. Requests still waiting on Delay or Hang are
// released first so Close does not block on them.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

// RequireAPIKey makes the server answer 401 unless the request carries
// "Authorization: Bearer key". "" turns the check off (the default).
func (s *Server) RequireAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiKey = key
}

// ForVision, ForJudge and ForCompletion script one kind of request; For
// scripts any kind ("" is the shared script).
func (s *Server) ForVision() *Script     { return s.For(KindVision) }
func (s *Server) ForJudge() *Script      { return s.For(KindJudge) }
func (s *Server) ForCompletion() *Script { return s.For(KindCompletion) }
func (s *Server) For(k Kind) *Script     { return &Script{s: s, kind: k} }

// SetResponder makes f the first to answer each well-formed, authorized
// request that is not rate limited: when f returns true its Response is
// the answer, else the scripts answer as usual. A fault plan decides each
// request from its content this way (internal/providerplan). f is called
// without the server's lock held, concurrently; nil removes it.
func (s *Server) SetResponder(f func(Request) (Response, bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responder = f
}

// Enqueue appends one-shot responses for requests of any kind; a kind's own
// queue is used first.
func (s *Server) Enqueue(rs ...Response) { s.For("").Enqueue(rs...) }

// SetDefault sets the fallback for any kind without its own default.
func (s *Server) SetDefault(r Response) { s.For("").SetDefault(r) }

// Reset forgets scripts, defaults and recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues = map[Kind][]Response{}
	s.defaults = map[Kind]Response{}
	s.requests = nil
	s.aborted = 0
	s.notifyLocked()
}

// Requests is the number of requests received (of any kind).
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// RequestsFor is the number of requests of one kind.
func (s *Server) RequestsFor(k Kind) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Kind == k {
			n++
		}
	}
	return n
}

// Aborted is the number of requests whose client went away before the
// answer was sent.
func (s *Server) Aborted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborted
}

// Received returns copies of the recorded requests in arrival order.
func (s *Server) Received() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// Last returns the most recent request of kind k ("" for any kind).
func (s *Server) Last(k Kind) (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.requests) - 1; i >= 0; i-- {
		if k == "" || s.requests[i].Kind == k {
			return s.requests[i], true
		}
	}
	return Request{}, false
}

// WaitAborted blocks until at least n requests were aborted by their
// client, or ctx ends (returning ctx.Err()).
func (s *Server) WaitAborted(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool { return s.aborted >= n })
}

// WaitRequests blocks until at least n requests arrived, or ctx ends.
func (s *Server) WaitRequests(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool { return len(s.requests) >= n })
}

func (s *Server) wait(ctx context.Context, done func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := done(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		writeError(w, http.StatusNotFound, "fake: only /chat/completions is served", "invalid_request_error")
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "fake: POST only", "invalid_request_error")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "fake: cannot read body", "invalid_request_error")
		return
	}
	rec, perr := parseRequest(body)
	rec.Authorization = r.Header.Get("Authorization")
	rec.RequestID = r.Header.Get("X-Request-ID")
	rec.Path = r.URL.Path
	rec.Received = time.Now()

	s.mu.Lock()
	idx := len(s.requests)
	s.requests = append(s.requests, rec)
	key := s.apiKey
	authorized := key == "" || rec.Authorization == "Bearer "+key
	var resp Response
	limited := perr == nil && authorized && s.overRateLocked(rec.Received)
	responder := s.responder
	if perr == nil && authorized && !limited && responder == nil { // a rejected request does not use up a scripted answer
		resp = s.nextLocked(rec.Kind)
	}
	s.notifyLocked()
	s.mu.Unlock()
	if perr == nil && authorized && !limited && responder != nil {
		var ok bool
		if resp, ok = responder(rec); !ok {
			s.mu.Lock()
			resp = s.nextLocked(rec.Kind)
			s.mu.Unlock()
		}
	}

	if perr != nil {
		writeError(w, http.StatusBadRequest, "fake: "+perr.Error(), "invalid_request_error")
		return
	}
	if !authorized {
		writeError(w, http.StatusUnauthorized, "fake: invalid API key", "invalid_api_key")
		return
	}
	if limited {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "fake: rate limit exceeded", "rate_limit_exceeded")
		return
	}

	if resp.hang || resp.delay > 0 {
		var timer <-chan time.Time
		if !resp.hang {
			t := time.NewTimer(resp.delay)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-timer:
		case <-r.Context().Done():
			s.markAborted(idx)
			return
		case <-s.closing:
			return
		}
	}
	if r.Context().Err() != nil { // the client left while we were deciding
		s.markAborted(idx)
		return
	}
	if resp.drop {
		dropConnection(w)
		return
	}
	for k, vs := range resp.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	status := resp.status
	if status == 0 {
		status = http.StatusOK
	}
	if resp.rawBody != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, *resp.rawBody)
		return
	}
	if status < 200 || status > 299 {
		msg := resp.errMsg
		if msg == "" {
			msg = fmt.Sprintf("fake: scripted status %d", status)
		}
		writeError(w, status, msg, errorType(status))
		return
	}
	writeJSON(w, status, answer(rec, resp))
}

// LimitRate makes the server enforce a rate limit as a provider does: a
// request that would be the (perSecond+1)th answered within one second gets
// 429 with Retry-After: 1 instead. 0 turns the limit off.
func (s *Server) LimitRate(perSecond int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimit, s.accepted = perSecond, nil
}

// RateLimited is the number of requests LimitRate answered with 429.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rateLimited
}

// MaxPerSecond is the most requests (of any kind, answered or not) that
// arrived within any one second.
func (s *Server) MaxPerSecond() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	best, lo := 0, 0
	for hi, r := range s.requests { // arrival order
		for r.Received.Sub(s.requests[lo].Received) >= time.Second {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

func (s *Server) overRateLocked(now time.Time) bool {
	if s.rateLimit <= 0 {
		return false
	}
	keep := s.accepted[:0]
	for _, t := range s.accepted {
		if now.Sub(t) < time.Second {
			keep = append(keep, t)
		}
	}
	s.accepted = keep
	if len(s.accepted) >= s.rateLimit {
		s.rateLimited++
		return true
	}
	s.accepted = append(s.accepted, now)
	return false
}

func (s *Server) markAborted(idx int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx < len(s.requests) { // Reset may have cleared the record
		s.requests[idx].Aborted, s.requests[idx].AbortedAt = true, time.Now()
	}
	s.aborted++
	s.notifyLocked()
}

func (s *Server) nextLocked(k Kind) Response {
	for _, q := range []Kind{k, ""} {
		if rs := s.queues[q]; len(rs) > 0 {
			s.queues[q] = rs[1:]
			return rs[0]
		}
	}
	for _, q := range []Kind{k, ""} {
		if r, ok := s.defaults[q]; ok {
			return r
		}
	}
	return Response{}
}

// Wire shapes.
type wireRequest struct {
	Model          string `json:"model"`
	MaxTokens      int    `json:"max_tokens"`
	ResponseFormat *struct {
		Type string `json:"type"`
	} `json:"response_format"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

type wirePart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

// parseRequest classifies and records a request; a protocol violation is
// returned as an error (answered 400) but the request is still recorded.
func parseRequest(body []byte) (Request, error) {
	rec := Request{Body: body, Kind: KindCompletion}
	var wr wireRequest
	if err := json.Unmarshal(body, &wr); err != nil {
		return rec, fmt.Errorf("body is not JSON: %v", err)
	}
	rec.Model = wr.Model
	rec.MaxTokens = wr.MaxTokens
	if wr.ResponseFormat != nil {
		rec.ResponseFormat = wr.ResponseFormat.Type
	}
	if wr.Model == "" {
		return rec, fmt.Errorf("model is required")
	}
	if len(wr.Messages) == 0 {
		return rec, fmt.Errorf("messages must not be empty")
	}
	var texts []string
	for _, m := range wr.Messages {
		var s string
		var parts []wirePart
		switch {
		case json.Unmarshal(m.Content, &s) == nil:
			parts = []wirePart{{Type: "text", Text: s}}
		case json.Unmarshal(m.Content, &parts) == nil:
		default:
			return rec, fmt.Errorf("message content must be a string or an array of parts")
		}
		for _, p := range parts {
			switch p.Type {
			case "text":
				if m.Role == "system" {
					rec.SystemPrompt += p.Text
				} else {
					texts = append(texts, p.Text)
				}
			case "image_url":
				if p.ImageURL == nil {
					return rec, fmt.Errorf("image_url part without image_url")
				}
				rec.Kind = KindVision
				if err := parseDataURL(&rec, p.ImageURL.URL); err != nil {
					return rec, err
				}
			default:
				return rec, fmt.Errorf("unknown content part type %q", p.Type)
			}
		}
	}
	rec.Prompt = strings.Join(texts, "\n")
	if rec.Kind != KindVision && (strings.Contains(rec.SystemPrompt, "inferflow:judge") || rec.ResponseFormat == "json_object") {
		rec.Kind = KindJudge
		var in struct {
			Valuations []provider.Valuation `json:"valuations"`
		}
		if json.Unmarshal([]byte(rec.Prompt), &in) == nil {
			rec.Valuations = in.Valuations
		}
	}
	return rec, nil
}

func parseDataURL(rec *Request, u string) error {
	head, payload, ok := strings.Cut(u, ",")
	rec.ImageURL = head + ","
	if !ok || !strings.HasPrefix(head, "data:") || !strings.HasSuffix(head, ";base64") {
		rec.ImageURL = u
		if len(rec.ImageURL) > 64 {
			rec.ImageURL = rec.ImageURL[:64]
		}
		return nil // remote URLs are legal in the protocol; nothing to decode
	}
	rec.MediaType = strings.TrimSuffix(strings.TrimPrefix(head, "data:"), ";base64")
	img, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return fmt.Errorf("image data URL is not valid base64")
	}
	rec.Image = img
	return nil
}

// answer builds a successful chat completion for rec as scripted by r.
func answer(rec Request, r Response) map[string]any {
	model := r.model
	if model == "" {
		model = rec.Model
	}
	var content string
	switch {
	case r.rawText != nil:
		content = *r.rawText
	case rec.Kind == KindCompletion:
		content = "fake completion"
		if r.text != nil {
			content = *r.text
		}
	default:
		obj := map[string]any{}
		v, c := DefaultVisionValue, DefaultVisionConfidence
		if rec.Kind == KindJudge {
			v, c = medianOf(rec.Valuations), DefaultJudgeConfidence
		}
		if r.value != nil {
			v = *r.value
		}
		if r.confidence != nil {
			c = *r.confidence
		}
		obj["value"], obj["confidence"] = v, c
		if rec.Kind == KindJudge && !r.noRationale {
			obj["rationale"] = fmt.Sprintf("fake judge: median of %d valuations", len(rec.Valuations))
			if r.rationale != nil {
				obj["rationale"] = *r.rationale
			}
		}
		b, _ := json.Marshal(obj)
		content = string(b)
	}
	resp := map[string]any{
		"id":      "chatcmpl-fake",
		"object":  "chat.completion",
		"created": time.Now().Unix(),
		"model":   model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": content},
			"finish_reason": "stop",
		}},
	}
	if !r.noUsage {
		u := provider.Usage{PromptTokens: max(1, len(rec.Body)/4), CompletionTokens: max(1, len(content)/4)}
		if rec.MaxTokens > 0 {
			u.CompletionTokens = min(u.CompletionTokens, rec.MaxTokens)
		}
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
		if r.usage != nil {
			u = *r.usage
		}
		resp["usage"] = u
	}
	return resp
}

func medianOf(vs []provider.Valuation) float64 {
	if len(vs) == 0 {
		return DefaultVisionValue
	}
	xs := make([]float64, 0, len(vs))
	for _, v := range vs {
		if !math.IsNaN(v.Value) {
			xs = append(xs, v.Value)
		}
	}
	if len(xs) == 0 {
		return DefaultVisionValue
	}
	sort.Float64s(xs)
	if n := len(xs); n%2 == 0 {
		return xs[n/2-1]/2 + xs[n/2]/2
	}
	return xs[len(xs)/2]
}

func errorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}

func writeError(w http.ResponseWriter, status int, msg, typ string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// dropConnection closes the TCP connection without a response.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}
