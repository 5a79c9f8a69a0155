package realtimemodel

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Bounds on untrusted server input.
const (
	// MaxServerEventBytes bounds one server event's JSON.
	MaxServerEventBytes = 1 << 20
	// MaxAudioDeltaBytes bounds the decoded PCM of one audio delta (about
	// 10.9 s at ServiceRate).
	MaxAudioDeltaBytes = 512 << 10
	// MaxIDBytes bounds response, item and event ids.
	MaxIDBytes = 256
	// MaxTokens bounds each token count of a usage object, so billing
	// arithmetic on it cannot overflow.
	MaxTokens = 1 << 32
)

// Parse errors. Every error ParseServerEvent returns is a *ParseError that
// matches ErrServerEvent and one of the others with errors.Is.
var (
	ErrServerEvent      = errors.New("realtimemodel: invalid server event")
	ErrEventTooLarge    = errors.New("event too large")
	ErrMalformedEvent   = errors.New("malformed event")
	ErrMissingType      = errors.New("event has no type")
	ErrInvalidAudio     = errors.New("invalid audio")
	ErrAudioTooLarge    = errors.New("audio delta too large")
	ErrInvalidFieldSize = errors.New("field too long")
	ErrInvalidUsage     = errors.New("invalid usage")
)

// ParseError describes a server event ParseServerEvent refused.
type ParseError struct {
	// Type is the event's type, when it could be read.
	Type string
	// Kind is one of ErrEventTooLarge, ErrMalformedEvent, ErrMissingType,
	// ErrInvalidAudio, ErrAudioTooLarge, ErrInvalidFieldSize,
	// ErrInvalidUsage.
	Kind error
	// Err is the underlying cause, if any (e.g. a *json.SyntaxError).
	Err error
}

func (e *ParseError) Error() string {
	s := ErrServerEvent.Error()
	if e.Type != "" {
		s += " " + e.Type
	}
	s += ": " + e.Kind.Error()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap lets errors.Is match ErrServerEvent, Kind and Err.
func (e *ParseError) Unwrap() []error {
	errs := []error{ErrServerEvent, e.Kind}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// ServerEvent is one server event as delivered to consumers: the parsed
// value and the JSON it came from. The gate consumes Raw
// (gate.HandleServerEventJSON); the session reads Value. Neither is reused
// or modified after delivery, so consumers may keep both.
type ServerEvent struct {
	// Type is the event's "type".
	Type string
	// Raw is the event's JSON as received (from the simulator: as a service
	// would send it).
	Raw []byte
	// Value is the parsed event; see ServerMessage for the types.
	Value ServerMessage
}

// ResponseID is the response the event belongs to (response.id or
// response_id), or "".
func (e ServerEvent) ResponseID() string {
	switch v := e.Value.(type) {
	case *ResponseCreated:
		return v.Response.ID
	case *ResponseDone:
		return v.Response.ID
	case *ResponseOutputAudioDelta:
		return v.ResponseID
	case *ResponseOutputAudioDone:
		return v.ResponseID
	case *ResponseOutputAudioTranscriptDelta:
		return v.ResponseID
	case *OutputAudioBufferCleared:
		return v.ResponseID
	}
	return ""
}

// wireServerEvent holds the fields of every modelled server event, so a
// known event is decoded in one pass.
type wireServerEvent struct {
	EventID        string       `json:"event_id"`
	Type           string       `json:"type"`
	Session        *Session     `json:"session"`
	PreviousItemID string       `json:"previous_item_id"`
	ItemID         string       `json:"item_id"`
	Response       *Response    `json:"response"`
	ResponseID     string       `json:"response_id"`
	OutputIndex    int          `json:"output_index"`
	ContentIndex   int          `json:"content_index"`
	Delta          string       `json:"delta"`
	Error          *ErrorDetail `json:"error"`
	RateLimits     []RateLimit  `json:"rate_limits"`
}

// ParseServerEvent parses one server event from untrusted JSON. Known types
// are checked (ids, audio, usage); a well-formed event of another type is an
// *UnknownServerEvent. It never panics; errors are *ParseError. Raw in the
// result is data itself, not a copy.
func ParseServerEvent(data []byte) (ServerEvent, error) {
	if len(data) > MaxServerEventBytes {
		return ServerEvent{}, &ParseError{Kind: ErrEventTooLarge,
			Err: fmt.Errorf("%d bytes, limit %d", len(data), MaxServerEventBytes)}
	}
	var w wireServerEvent
	if err := json.Unmarshal(data, &w); err != nil {
		// A field of an unmodelled event may have a shape ours do not
		// share; only the type decides whether that is an error.
		var t struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(data, &t) != nil || t.Type == "" || known(t.Type) {
			return ServerEvent{}, &ParseError{Type: t.Type, Kind: ErrMalformedEvent, Err: err}
		}
		w = wireServerEvent{Type: t.Type}
		var id struct {
			EventID string `json:"event_id"`
		}
		_ = json.Unmarshal(data, &id)
		w.EventID = id.EventID
	}
	if w.Type == "" {
		return ServerEvent{}, &ParseError{Kind: ErrMissingType}
	}
	v, err := w.build()
	if err != nil {
		return ServerEvent{}, err
	}
	return ServerEvent{Type: w.Type, Raw: data, Value: v}, nil
}

func known(t string) bool {
	switch t {
	case TypeSessionCreated, TypeSessionUpdated, TypeInputAudioBufferCommitted,
		TypeInputAudioBufferCleared, TypeResponseCreated, TypeResponseOutputAudioDelta,
		TypeResponseOutputAudioDone, TypeResponseOutputAudioTranscriptDelta, TypeResponseDone,
		TypeOutputAudioBufferCleared, TypeError, TypeRateLimitsUpdated:
		return true
	}
	return false
}

func (w *wireServerEvent) fail(kind error, err error) error {
	return &ParseError{Type: w.Type, Kind: kind, Err: err}
}

// ids checks the lengths of ids, which end up in logs and billing records.
func (w *wireServerEvent) ids(ids ...string) error {
	for _, id := range append(ids, w.EventID) {
		if len(id) > MaxIDBytes {
			return w.fail(ErrInvalidFieldSize, fmt.Errorf("id of %d bytes, limit %d", len(id), MaxIDBytes))
		}
	}
	return nil
}

func (w *wireServerEvent) response() (Response, error) {
	if w.Response == nil || w.Response.ID == "" {
		return Response{}, w.fail(ErrMalformedEvent, errors.New("no response.id"))
	}
	r := *w.Response
	if err := w.ids(r.ID); err != nil {
		return Response{}, err
	}
	if u := r.Usage; u != nil {
		n := []int64{u.TotalTokens, u.InputTokens, u.OutputTokens}
		if d := u.InputTokenDetails; d != nil {
			n = append(n, d.CachedTokens, d.TextTokens, d.AudioTokens, d.ImageTokens)
		}
		if d := u.OutputTokenDetails; d != nil {
			n = append(n, d.TextTokens, d.AudioTokens)
		}
		for _, x := range n {
			if x < 0 || x > MaxTokens {
				return Response{}, w.fail(ErrInvalidUsage, fmt.Errorf("token count %d outside [0, %d]", x, int64(MaxTokens)))
			}
		}
	}
	return r, nil
}

func (w *wireServerEvent) build() (ServerMessage, error) {
	switch w.Type {
	case TypeSessionCreated, TypeSessionUpdated:
		if w.Session == nil {
			return nil, w.fail(ErrMalformedEvent, errors.New("no session"))
		}
		if err := w.ids(w.Session.ID); err != nil {
			return nil, err
		}
		if w.Type == TypeSessionCreated {
			return &SessionCreated{EventID: w.EventID, Type: w.Type, Session: *w.Session}, nil
		}
		return &SessionUpdated{EventID: w.EventID, Type: w.Type, Session: *w.Session}, nil
	case TypeInputAudioBufferCommitted:
		if err := w.ids(w.ItemID, w.PreviousItemID); err != nil {
			return nil, err
		}
		return &InputAudioBufferCommitted{EventID: w.EventID, Type: w.Type,
			PreviousItemID: w.PreviousItemID, ItemID: w.ItemID}, nil
	case TypeInputAudioBufferCleared:
		if err := w.ids(); err != nil {
			return nil, err
		}
		return &InputAudioBufferCleared{EventID: w.EventID, Type: w.Type}, nil
	case TypeResponseCreated, TypeResponseDone:
		r, err := w.response()
		if err != nil {
			return nil, err
		}
		if w.Type == TypeResponseCreated {
			return &ResponseCreated{EventID: w.EventID, Type: w.Type, Response: r}, nil
		}
		return &ResponseDone{EventID: w.EventID, Type: w.Type, Response: r}, nil
	case TypeResponseOutputAudioDelta:
		if w.ResponseID == "" {
			return nil, w.fail(ErrMalformedEvent, errors.New("no response_id"))
		}
		if err := w.ids(w.ResponseID, w.ItemID); err != nil {
			return nil, err
		}
		pcm, err := DecodeAudio(w.Delta)
		if err != nil {
			kind := ErrInvalidAudio
			if errors.Is(err, ErrAudioTooLarge) {
				kind = ErrAudioTooLarge
			}
			return nil, w.fail(kind, err)
		}
		return &ResponseOutputAudioDelta{EventID: w.EventID, Type: w.Type, ResponseID: w.ResponseID,
			ItemID: w.ItemID, OutputIndex: w.OutputIndex, ContentIndex: w.ContentIndex,
			Delta: w.Delta, Audio: pcm}, nil
	case TypeResponseOutputAudioDone:
		if err := w.ids(w.ResponseID, w.ItemID); err != nil {
			return nil, err
		}
		return &ResponseOutputAudioDone{EventID: w.EventID, Type: w.Type, ResponseID: w.ResponseID,
			ItemID: w.ItemID, OutputIndex: w.OutputIndex, ContentIndex: w.ContentIndex}, nil
	case TypeResponseOutputAudioTranscriptDelta:
		if err := w.ids(w.ResponseID, w.ItemID); err != nil {
			return nil, err
		}
		return &ResponseOutputAudioTranscriptDelta{EventID: w.EventID, Type: w.Type, ResponseID: w.ResponseID,
			ItemID: w.ItemID, OutputIndex: w.OutputIndex, ContentIndex: w.ContentIndex, Delta: w.Delta}, nil
	case TypeOutputAudioBufferCleared:
		if err := w.ids(w.ResponseID); err != nil {
			return nil, err
		}
		return &OutputAudioBufferCleared{EventID: w.EventID, Type: w.Type, ResponseID: w.ResponseID}, nil
	case TypeError:
		if w.Error == nil {
			return nil, w.fail(ErrMalformedEvent, errors.New("no error object"))
		}
		if err := w.ids(w.Error.EventID); err != nil {
			return nil, err
		}
		return &ErrorEvent{EventID: w.EventID, Type: w.Type, Error: *w.Error}, nil
	case TypeRateLimitsUpdated:
		if err := w.ids(); err != nil {
			return nil, err
		}
		return &RateLimitsUpdated{EventID: w.EventID, Type: w.Type, RateLimits: w.RateLimits}, nil
	}
	if len(w.Type) > MaxIDBytes {
		return nil, w.fail(ErrInvalidFieldSize, errors.New("type too long"))
	}
	if err := w.ids(); err != nil {
		return nil, err
	}
	return &UnknownServerEvent{EventID: w.EventID, Type: w.Type}, nil
}

// EncodeAudio encodes PCM16 mono as the protocol's base64 little-endian
// bytes.
func EncodeAudio(pcm []int16) string {
	return base64.StdEncoding.EncodeToString(appendPCM(make([]byte, 0, 2*len(pcm)), pcm))
}

// appendPCM appends pcm as little-endian bytes.
func appendPCM(dst []byte, pcm []int16) []byte {
	for _, s := range pcm {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(s))
	}
	return dst
}

// DecodeAudio decodes base64 little-endian PCM16, at most
// MaxAudioDeltaBytes of it.
func DecodeAudio(b64 string) ([]int16, error) {
	if n := base64.StdEncoding.DecodedLen(len(b64)); n > MaxAudioDeltaBytes+2 {
		return nil, fmt.Errorf("%w: about %d bytes, limit %d", ErrAudioTooLarge, n, MaxAudioDeltaBytes)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidAudio, err)
	}
	if len(b) > MaxAudioDeltaBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrAudioTooLarge, len(b), MaxAudioDeltaBytes)
	}
	if len(b)%2 != 0 {
		return nil, fmt.Errorf("%w: odd byte count %d for PCM16", ErrInvalidAudio, len(b))
	}
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm, nil
}

// EncodeClientEvent writes a client event as JSON with its canonical type;
// the event itself is not modified.
func EncodeClientEvent(ev ClientEvent) ([]byte, error) {
	var v any
	switch e := ev.(type) {
	case *SessionUpdate:
		c := *e
		c.Type = TypeSessionUpdate
		v = &c
	case *InputAudioBufferAppend:
		c := *e
		c.Type = TypeInputAudioBufferAppend
		v = &c
	case *InputAudioBufferCommit:
		c := *e
		c.Type = TypeInputAudioBufferCommit
		v = &c
	case *InputAudioBufferClear:
		c := *e
		c.Type = TypeInputAudioBufferClear
		v = &c
	case *ResponseCreate:
		c := *e
		c.Type = TypeResponseCreate
		v = &c
	case *ResponseCancel:
		c := *e
		c.Type = TypeResponseCancel
		v = &c
	case *OutputAudioBufferClear:
		c := *e
		c.Type = TypeOutputAudioBufferClear
		v = &c
	default:
		return nil, fmt.Errorf("realtimemodel: unknown client event %T", ev)
	}
	return json.Marshal(v)
}

// ParseClientEvent parses a client event (what a service, or a test fake of
// one, receives). Unknown types are an error.
func ParseClientEvent(data []byte) (ClientEvent, error) {
	if len(data) > MaxServerEventBytes {
		return nil, fmt.Errorf("realtimemodel: client event: %w", ErrEventTooLarge)
	}
	var t struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("realtimemodel: client event: %w: %w", ErrMalformedEvent, err)
	}
	var ev ClientEvent
	switch t.Type {
	case TypeSessionUpdate:
		ev = &SessionUpdate{}
	case TypeInputAudioBufferAppend:
		ev = &InputAudioBufferAppend{}
	case TypeInputAudioBufferCommit:
		ev = &InputAudioBufferCommit{}
	case TypeInputAudioBufferClear:
		ev = &InputAudioBufferClear{}
	case TypeResponseCreate:
		ev = &ResponseCreate{}
	case TypeResponseCancel:
		ev = &ResponseCancel{}
	case TypeOutputAudioBufferClear:
		ev = &OutputAudioBufferClear{}
	default:
		return nil, fmt.Errorf("realtimemodel: client event: %w: unknown type %q", ErrMalformedEvent, t.Type)
	}
	if err := json.Unmarshal(data, ev); err != nil {
		return nil, fmt.Errorf("realtimemodel: client event %s: %w: %w", t.Type, ErrMalformedEvent, err)
	}
	return ev, nil
}
