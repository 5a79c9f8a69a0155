package realtimemodel

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Error codes of the simulator's error events. The first three are the
// real service's codes for the same mistakes.
const (
	CodeCommitEmpty      = "input_audio_buffer_commit_empty"          // commit with < MinCommitDuration buffered
	CodeActiveResponse   = "conversation_already_has_active_response" // response.create while one runs
	CodeCancelNotActive  = "response_cancel_not_active"               // response.cancel with none running
	CodeNoCommittedAudio = "no_committed_audio"                       // response.create with nothing committed since the last response
	CodeServerError      = "server_error"                             // SimConfig.FailAfterDeltas
)

// MinCommitDuration is the least audio input_audio_buffer.commit accepts,
// as the real service.
const MinCommitDuration = 100 * time.Millisecond

// SimConfig configures the simulated model. Zero fields take defaults.
type SimConfig struct {
	// ChunkDuration is the audio in one response.output_audio.delta:
	// 10 ms to 100 ms, default 40 ms.
	ChunkDuration time.Duration
	// Fast streams replies as fast as the consumer reads instead of in real
	// time (one chunk per ChunkDuration, the first after ResponseLatency).
	Fast bool
	// ResponseLatency is the delay between response.created and the first
	// audio when paced in real time: 0 to 10 s, default 0.
	ResponseLatency time.Duration
	// EventBuffer is the capacity of Events: 1 to 4096, default 128
	// (about 3 s of paced reply).
	EventBuffer int
	// SlowConsumerTimeout is how long the simulator waits for room in a
	// full Events channel before it ends with ErrSlowConsumer: 1 ms to
	// 1 min, default 2 s.
	SlowConsumerTimeout time.Duration
	// FailAfterDeltas, when > 0, makes the simulator fail once it has sent
	// that many audio deltas in the session: it sends an error event
	// (CodeServerError) and ends with ErrSimulatedFailure, leaving the
	// response without response.done, as a dropped connection would. With
	// FailResponseOnly it instead ends the response with response.done
	// status failed (usage for the audio sent) and keeps running.
	FailAfterDeltas  int
	FailResponseOnly bool
	// Seed varies voices and words; replies are a deterministic function of
	// Seed, the response number and the committed audio.
	Seed uint64
	// SessionID is session.id in session.created; default "sess_sim".
	SessionID string
}

const (
	defaultChunk        = 40 * time.Millisecond
	defaultEventBuffer  = 128
	defaultSlowConsumer = 2 * time.Second
	commandBuffer       = 64
)

func (c SimConfig) withDefaults() (SimConfig, error) {
	if c.ChunkDuration == 0 {
		c.ChunkDuration = defaultChunk
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = defaultEventBuffer
	}
	if c.SlowConsumerTimeout == 0 {
		c.SlowConsumerTimeout = defaultSlowConsumer
	}
	if c.SessionID == "" {
		c.SessionID = "sess_sim"
	}
	bad := func(field string, v any) (SimConfig, error) {
		return SimConfig{}, fmt.Errorf("%w: %s %v out of range", ErrInvalidConfig, field, v)
	}
	switch {
	case c.ChunkDuration < 10*time.Millisecond || c.ChunkDuration > 100*time.Millisecond:
		return bad("ChunkDuration", c.ChunkDuration)
	case c.ResponseLatency < 0 || c.ResponseLatency > 10*time.Second:
		return bad("ResponseLatency", c.ResponseLatency)
	case c.EventBuffer < 1 || c.EventBuffer > 4096:
		return bad("EventBuffer", c.EventBuffer)
	case c.SlowConsumerTimeout < time.Millisecond || c.SlowConsumerTimeout > time.Minute:
		return bad("SlowConsumerTimeout", c.SlowConsumerTimeout)
	case c.FailAfterDeltas < 0 || c.FailAfterDeltas > 1<<30:
		return bad("FailAfterDeltas", c.FailAfterDeltas)
	case len(c.SessionID) > MaxIDBytes || !utf8.ValidString(c.SessionID):
		return bad("SessionID length", len(c.SessionID))
	}
	return c, nil
}

type cmdKind uint8

const (
	cmdAppend cmdKind = iota
	cmdCommit
	cmdClear
	cmdCreate
	cmdCancel
)

type command struct {
	kind cmdKind
	n    int    // cmdAppend: samples at ServiceRate
	hash uint64 // cmdAppend: hash of those samples
	tag  string // cmdCreate
}

// Simulated is an in-process, offline, deterministic realtime model. It
// implements Upstream with one goroutine, which plays the service: it owns
// all protocol state and is the only sender on Events.
type Simulated struct {
	cfg    SimConfig
	chunk  int // samples per delta
	events chan ServerEvent
	cmds   chan command
	done   chan struct{} // closed by Close
	ended  chan struct{} // closed when the loop stops, before events is closed
	exited chan struct{} // closed last, when the loop has returned

	closeOnce sync.Once
	mu        sync.Mutex
	err       error
	stats     SimStats

	sendMu  sync.Mutex // orders resampling and enqueueing of SendAudio
	rs      *Resampler
	scratch []int16

	// Owned by the loop.
	nEvent, nItem, nResp int
	input                int64 // uncommitted samples at ServiceRate
	inputHash            uint64
	committed            int64 // committed, not yet answered
	committedHash        uint64
	lastItem, lastResp   string
	resp                 *simResponse
	deltas               int
	pace, slow           *time.Timer
	pcmBuf               []byte // emitDelta's scratch
}

type simResponse struct {
	id, item string
	meta     map[string]string
	input    int64 // committed samples this response answers
	plan     *reply
	sent     int // samples sent
	chunks   int
	word     int // next transcript word
	start    time.Time
}

var _ Upstream = (*Simulated)(nil)

// NewSimulated starts a simulated model. It sends session.created, then
// session.updated as the answer to the session.update a real upstream
// sends at start (turn detection off). Close it to stop its goroutine.
func NewSimulated(cfg SimConfig) (*Simulated, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Simulated{
		cfg:    cfg,
		chunk:  int(SamplesOf(cfg.ChunkDuration)),
		events: make(chan ServerEvent, cfg.EventBuffer),
		cmds:   make(chan command, commandBuffer),
		done:   make(chan struct{}),
		ended:  make(chan struct{}),
		exited: make(chan struct{}),
		rs:     NewResampler(InputRate, ServiceRate),
	}
	go s.run()
	return s, nil
}

// SimStats counts what a Simulated received and produced, so a session
// test can check what reached the model.
type SimStats struct {
	AudioIn   int64 // samples at InputRate taken by SendAudio
	Committed int64 // samples at ServiceRate committed into user items
	Responses int   // responses created
	AudioOut  int64 // reply samples at ServiceRate sent in audio deltas
}

// Stats returns the counters so far.
func (s *Simulated) Stats() SimStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Simulated) count(f func(*SimStats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// Events implements Upstream.
func (s *Simulated) Events() <-chan ServerEvent { return s.events }

// Err implements Upstream.
func (s *Simulated) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Simulated) setErr(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// Close implements Upstream.
func (s *Simulated) Close() error {
	s.closeOnce.Do(func() {
		s.setErr(ErrClosed)
		close(s.done)
	})
	<-s.exited
	return nil
}

// SendAudio implements Upstream.
func (s *Simulated) SendAudio(ctx context.Context, pcm []int16) error {
	if len(pcm) > MaxAppendSamples {
		return fmt.Errorf("%w: %d samples, limit %d", ErrInvalidInput, len(pcm), MaxAppendSamples)
	}
	if len(pcm) == 0 {
		return nil
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if err := s.check(ctx, "send audio"); err != nil {
		return err
	}
	s.scratch = s.rs.Process(s.scratch[:0], pcm)
	h := uint64(14695981039346656037) // FNV-1a over the resampled audio
	for _, v := range s.scratch {
		h = (h ^ uint64(uint16(v))) * 1099511628211
	}
	if err := s.send(ctx, "send audio", command{kind: cmdAppend, n: len(s.scratch), hash: h}); err != nil {
		return err
	}
	s.count(func(st *SimStats) { st.AudioIn += int64(len(pcm)) })
	return nil
}

// CommitTurn implements Upstream.
func (s *Simulated) CommitTurn(ctx context.Context) error {
	return s.send(ctx, "commit turn", command{kind: cmdCommit})
}

// ClearInput implements Upstream.
func (s *Simulated) ClearInput(ctx context.Context) error {
	return s.send(ctx, "clear input", command{kind: cmdClear})
}

// CreateResponse implements Upstream.
func (s *Simulated) CreateResponse(ctx context.Context, tag string) error {
	if len(tag) > MaxTagBytes || !utf8.ValidString(tag) {
		return fmt.Errorf("%w: tag must be valid UTF-8 of at most %d bytes", ErrInvalidInput, MaxTagBytes)
	}
	return s.send(ctx, "create response", command{kind: cmdCreate, tag: tag})
}

// CancelResponse implements Upstream.
func (s *Simulated) CancelResponse(ctx context.Context) error {
	return s.send(ctx, "cancel response", command{kind: cmdCancel})
}

func (s *Simulated) endedErr(op string) error {
	err := s.Err()
	if err == nil {
		err = ErrClosed
	}
	return fmt.Errorf("realtimemodel: %s: %w", op, err)
}

func (s *Simulated) check(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("realtimemodel: %s: %w", op, err)
	}
	select {
	case <-s.done:
		return s.endedErr(op)
	case <-s.ended:
		return s.endedErr(op)
	default:
		return nil
	}
}

func (s *Simulated) send(ctx context.Context, op string, c command) error {
	if err := s.check(ctx, op); err != nil {
		return err
	}
	select {
	case s.cmds <- c:
		return nil
	case <-s.done:
		return s.endedErr(op)
	case <-s.ended:
		return s.endedErr(op)
	case <-ctx.Done():
		return fmt.Errorf("realtimemodel: %s: %w", op, ctx.Err())
	}
}

// ---- the service side: everything below runs on the loop goroutine ----

func (s *Simulated) run() {
	// On return, in this order: methods refuse work, Events is closed (err
	// is set by then), Close may return.
	defer close(s.exited)
	defer close(s.events)
	defer close(s.ended)
	defer func() {
		if s.pace != nil {
			s.pace.Stop()
		}
		if s.slow != nil {
			s.slow.Stop()
		}
	}()
	if !s.emit(&SessionCreated{Session: s.session(&TurnDetection{Type: "server_vad"})}) ||
		!s.emit(&SessionUpdated{Session: s.session(nil)}) {
		return
	}
	for {
		if s.resp != nil && s.cfg.Fast {
			select {
			case <-s.done:
				return
			case c := <-s.cmds:
				if !s.handle(c) {
					return
				}
			default:
				if !s.step() {
					return
				}
			}
			continue
		}
		var tick <-chan time.Time
		if s.resp != nil {
			tick = s.pace.C
		}
		select {
		case <-s.done:
			return
		case c := <-s.cmds:
			if !s.handle(c) {
				return
			}
		case <-tick:
			if !s.step() {
				return
			}
			s.armPace()
		}
	}
}

func (s *Simulated) session(td *TurnDetection) Session {
	pcm := &AudioFormat{Type: AudioFormatPCM, Rate: ServiceRate}
	return Session{
		Type: "realtime", ID: s.cfg.SessionID, Object: "realtime.session", Model: "simulated",
		OutputModalities: []string{"audio"},
		Audio: &SessionAudio{
			Input:  &AudioInput{Format: pcm, TurnDetection: td},
			Output: &AudioOutput{Format: pcm, Voice: "sim"},
		},
	}
}

// handle applies one client command; false ends the loop.
func (s *Simulated) handle(c command) bool {
	switch c.kind {
	case cmdAppend:
		s.input += int64(c.n)
		s.inputHash = (s.inputHash ^ c.hash) * 1099511628211
		return true
	case cmdCommit:
		if s.input < SamplesOf(MinCommitDuration) {
			return s.emitError("invalid_request_error", CodeCommitEmpty,
				fmt.Sprintf("buffer too small: %d ms of audio, at least %d ms", s.input*1000/ServiceRate, MinCommitDuration.Milliseconds()))
		}
		s.nItem++
		item := "item_" + strconv.Itoa(s.nItem)
		ok := s.emit(&InputAudioBufferCommitted{PreviousItemID: s.lastItem, ItemID: item})
		s.lastItem = item
		s.committed += s.input
		s.count(func(st *SimStats) { st.Committed += s.input })
		s.committedHash = (s.committedHash ^ s.inputHash) * 1099511628211
		s.input, s.inputHash = 0, 0
		return ok
	case cmdClear:
		s.input, s.inputHash = 0, 0
		return s.emit(&InputAudioBufferCleared{})
	case cmdCreate:
		return s.create(c.tag)
	case cmdCancel:
		return s.cancel()
	}
	return true
}

func (s *Simulated) create(tag string) bool {
	if s.resp != nil {
		return s.emitError("invalid_request_error", CodeActiveResponse,
			"conversation already has an active response "+s.resp.id)
	}
	if s.committed == 0 {
		return s.emitError("invalid_request_error", CodeNoCommittedAudio,
			"no audio committed since the last response")
	}
	s.nResp++
	s.nItem++
	s.count(func(st *SimStats) { st.Responses++ })
	r := &simResponse{
		id:    "resp_" + strconv.Itoa(s.nResp),
		item:  "item_" + strconv.Itoa(s.nItem),
		input: s.committed,
	}
	if tag != "" {
		r.meta = map[string]string{MetadataTagKey: tag}
	}
	seed := (s.cfg.Seed ^ s.committedHash ^ uint64(s.nResp)*0x9e3779b97f4a7c15) + uint64(s.committed)
	r.plan = planReply(seed, int(ReplySamples(s.committed)))
	s.committed, s.committedHash = 0, 0
	s.resp, s.lastResp = r, r.id
	ok := s.emit(&ResponseCreated{Response: Response{ID: r.id, Object: "realtime.response",
		Status: StatusInProgress, OutputModalities: []string{"audio"}, Metadata: r.meta}}) &&
		s.emit(&RateLimitsUpdated{RateLimits: []RateLimit{
			{Name: "requests", Limit: 1000, Remaining: int64(max(0, 1000-s.nResp)), ResetSeconds: 60},
			{Name: "tokens", Limit: 1_000_000, Remaining: 1_000_000, ResetSeconds: 60},
		}})
	if ok && !s.cfg.Fast {
		r.start = time.Now().Add(s.cfg.ResponseLatency)
		s.armPace()
	}
	return ok
}

// armPace sets the pace timer for the next chunk of the active response.
func (s *Simulated) armPace() {
	if s.resp == nil || s.cfg.Fast {
		return
	}
	d := time.Until(s.resp.start.Add(time.Duration(s.resp.chunks) * s.cfg.ChunkDuration))
	if s.pace == nil {
		s.pace = time.NewTimer(d)
		return
	}
	s.pace.Reset(d)
}

// step sends the next chunk of the active response (with the transcript of
// the words that start in it) and ends the response after the last.
func (s *Simulated) step() bool {
	r := s.resp
	n := min(s.chunk, r.plan.total-r.sent)
	for r.word < len(r.plan.words) && r.plan.words[r.word].start < r.sent+n {
		if !s.emit(&ResponseOutputAudioTranscriptDelta{ResponseID: r.id, ItemID: r.item,
			Delta: r.plan.words[r.word].text}) {
			return false
		}
		r.word++
	}
	pcm := make([]int16, n)
	r.plan.render(pcm, r.sent)
	if !s.emitDelta(r, pcm) {
		return false
	}
	r.sent += n
	r.chunks++
	s.deltas++
	s.count(func(st *SimStats) { st.AudioOut += int64(n) })
	if s.cfg.FailAfterDeltas > 0 && s.deltas == s.cfg.FailAfterDeltas {
		return s.fail()
	}
	if r.sent < r.plan.total {
		return true
	}
	s.resp = nil
	return s.emit(&ResponseOutputAudioDone{ResponseID: r.id, ItemID: r.item}) &&
		s.emit(&ResponseDone{Response: s.final(r, StatusCompleted, nil)})
}

func (s *Simulated) final(r *simResponse, status string, details *StatusDetails) Response {
	u := SimUsage(r.input, int64(r.sent))
	return Response{ID: r.id, Object: "realtime.response", Status: status, StatusDetails: details,
		OutputModalities: []string{"audio"}, Metadata: r.meta, Usage: &u}
}

func (s *Simulated) fail() bool {
	r := s.resp
	if s.cfg.FailResponseOnly {
		s.stopPace()
		s.resp = nil
		return s.emit(&ResponseDone{Response: s.final(r, StatusFailed, &StatusDetails{Type: StatusFailed,
			Error: &StatusError{Type: "server_error", Code: CodeServerError}})})
	}
	s.emitError("server_error", CodeServerError, "simulated failure after "+strconv.Itoa(s.deltas)+" audio deltas")
	s.setErr(fmt.Errorf("%w after %d audio deltas", ErrSimulatedFailure, s.deltas))
	return false
}

func (s *Simulated) cancel() bool {
	r := s.resp
	if r == nil {
		return s.emitError("invalid_request_error", CodeCancelNotActive, "no active response to cancel") &&
			s.emit(&OutputAudioBufferCleared{ResponseID: s.lastResp})
	}
	s.stopPace()
	s.resp = nil
	return s.emit(&ResponseDone{Response: s.final(r, StatusCancelled,
		&StatusDetails{Type: StatusCancelled, Reason: "client_cancelled"})}) &&
		s.emit(&OutputAudioBufferCleared{ResponseID: r.id})
}

func (s *Simulated) stopPace() {
	if s.pace != nil {
		s.pace.Stop()
	}
}

func (s *Simulated) emitError(typ, code, msg string) bool {
	return s.emit(&ErrorEvent{Error: ErrorDetail{Type: typ, Code: code, Message: msg}})
}

// emit stamps and delivers one event; false ends the loop (Close, or the
// consumer let Events stay full past SlowConsumerTimeout).
func (s *Simulated) emit(v ServerMessage) bool {
	s.nEvent++
	id := "event_" + strconv.Itoa(s.nEvent)
	switch e := v.(type) {
	case *SessionCreated:
		e.EventID, e.Type = id, TypeSessionCreated
	case *SessionUpdated:
		e.EventID, e.Type = id, TypeSessionUpdated
	case *InputAudioBufferCommitted:
		e.EventID, e.Type = id, TypeInputAudioBufferCommitted
	case *InputAudioBufferCleared:
		e.EventID, e.Type = id, TypeInputAudioBufferCleared
	case *ResponseCreated:
		e.EventID, e.Type = id, TypeResponseCreated
	case *ResponseOutputAudioDelta:
		e.EventID, e.Type = id, TypeResponseOutputAudioDelta
	case *ResponseOutputAudioDone:
		e.EventID, e.Type = id, TypeResponseOutputAudioDone
	case *ResponseOutputAudioTranscriptDelta:
		e.EventID, e.Type = id, TypeResponseOutputAudioTranscriptDelta
	case *ResponseDone:
		e.EventID, e.Type = id, TypeResponseDone
	case *OutputAudioBufferCleared:
		e.EventID, e.Type = id, TypeOutputAudioBufferCleared
	case *ErrorEvent:
		e.EventID, e.Type = id, TypeError
	case *RateLimitsUpdated:
		e.EventID, e.Type = id, TypeRateLimitsUpdated
	}
	raw, err := json.Marshal(v)
	if err != nil { // our own types always marshal; end rather than send garbage
		s.setErr(fmt.Errorf("realtimemodel: encode %s: %w", v.ServerEventType(), err))
		return false
	}
	return s.deliver(ServerEvent{Type: v.ServerEventType(), Raw: raw, Value: v})
}

// emitDelta is emit for audio deltas, the bulk of the traffic: the JSON is
// written directly, base64 straight into it, instead of through
// encoding/json. The ids are ours and need no escaping.
func (s *Simulated) emitDelta(r *simResponse, pcm []int16) bool {
	s.nEvent++
	id := "event_" + strconv.Itoa(s.nEvent)
	raw := make([]byte, 0, 160+base64.StdEncoding.EncodedLen(2*len(pcm)))
	raw = append(raw, `{"event_id":"`...)
	raw = append(raw, id...)
	raw = append(raw, `","type":"response.output_audio.delta","response_id":"`...)
	raw = append(raw, r.id...)
	raw = append(raw, `","item_id":"`...)
	raw = append(raw, r.item...)
	raw = append(raw, `","output_index":0,"content_index":0,"delta":"`...)
	start := len(raw)
	s.pcmBuf = appendPCM(s.pcmBuf[:0], pcm)
	raw = base64.StdEncoding.AppendEncode(raw, s.pcmBuf)
	end := len(raw)
	raw = append(raw, `"}`...)
	return s.deliver(ServerEvent{Type: TypeResponseOutputAudioDelta, Raw: raw, Value: &ResponseOutputAudioDelta{
		EventID: id, Type: TypeResponseOutputAudioDelta, ResponseID: r.id, ItemID: r.item,
		Delta: string(raw[start:end]), Audio: pcm}})
}

// deliver sends ev on Events, waiting at most SlowConsumerTimeout for room.
func (s *Simulated) deliver(ev ServerEvent) bool {
	select {
	case s.events <- ev:
		return true
	default:
	}
	if s.slow == nil {
		s.slow = time.NewTimer(s.cfg.SlowConsumerTimeout)
	} else {
		s.slow.Reset(s.cfg.SlowConsumerTimeout)
	}
	select {
	case s.events <- ev:
		s.slow.Stop()
		return true
	case <-s.done:
		return false
	case <-s.slow.C:
		s.setErr(fmt.Errorf("%w: %d events unread for %v", ErrSlowConsumer, cap(s.events), s.cfg.SlowConsumerTimeout))
		return false
	}
}
