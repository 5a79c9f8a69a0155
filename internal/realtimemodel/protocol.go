package realtimemodel

// Audio format of the realtime service: both directions carry base64
// little-endian PCM16 mono at ServiceRate.
const (
	ServiceRate = 24000 // Hz, input_audio_buffer.append and output audio
	InputRate   = 16000 // Hz, what Upstream.SendAudio takes (the gate's rate)

	// AudioFormatPCM is the format type of PCM16 audio in session objects.
	AudioFormatPCM = "audio/pcm"
)

// Client event types.
const (
	TypeSessionUpdate          = "session.update"
	TypeInputAudioBufferAppend = "input_audio_buffer.append"
	TypeInputAudioBufferCommit = "input_audio_buffer.commit"
	TypeInputAudioBufferClear  = "input_audio_buffer.clear"
	TypeResponseCreate         = "response.create"
	TypeResponseCancel         = "response.cancel"
	TypeOutputAudioBufferClear = "output_audio_buffer.clear"
)

// Server event types.
const (
	TypeSessionCreated                     = "session.created"
	TypeSessionUpdated                     = "session.updated"
	TypeInputAudioBufferCommitted          = "input_audio_buffer.committed"
	TypeInputAudioBufferCleared            = "input_audio_buffer.cleared"
	TypeResponseCreated                    = "response.created"
	TypeResponseOutputAudioDelta           = "response.output_audio.delta"
	TypeResponseOutputAudioDone            = "response.output_audio.done"
	TypeResponseOutputAudioTranscriptDelta = "response.output_audio_transcript.delta"
	TypeResponseDone                       = "response.done"
	TypeOutputAudioBufferCleared           = "output_audio_buffer.cleared"
	TypeError                              = "error"
	TypeRateLimitsUpdated                  = "rate_limits.updated"
)

// Response statuses in response.done (and "in_progress" in
// response.created).
const (
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
	StatusCancelled  = "cancelled"
	StatusFailed     = "failed"
	StatusIncomplete = "incomplete"
)

// MetadataTagKey is the response metadata key that carries the tag given
// to Upstream.CreateResponse; the service echoes metadata in the response
// object of response.created and response.done.
const MetadataTagKey = "tag"

// ---- shared objects ----

// Session is the session object of session.update, session.created and
// session.updated (the fields this service uses).
type Session struct {
	Type             string        `json:"type,omitempty"` // "realtime"
	ID               string        `json:"id,omitempty"`
	Object           string        `json:"object,omitempty"` // "realtime.session"
	Model            string        `json:"model,omitempty"`
	OutputModalities []string      `json:"output_modalities,omitempty"`
	Instructions     string        `json:"instructions,omitempty"`
	Audio            *SessionAudio `json:"audio,omitempty"`
}

// SessionAudio is session.audio.
type SessionAudio struct {
	Input  *AudioInput  `json:"input,omitempty"`
	Output *AudioOutput `json:"output,omitempty"`
}

// AudioInput is session.audio.input. TurnDetection has no omitempty on
// purpose: a nil value is sent as null, which turns the service's own turn
// detection off (our gate decides turns).
type AudioInput struct {
	Format        *AudioFormat   `json:"format,omitempty"`
	TurnDetection *TurnDetection `json:"turn_detection"`
}

// AudioOutput is session.audio.output.
type AudioOutput struct {
	Format *AudioFormat `json:"format,omitempty"`
	Voice  string       `json:"voice,omitempty"`
}

// AudioFormat is an audio format object, e.g. {"type":"audio/pcm","rate":24000}.
type AudioFormat struct {
	Type string `json:"type"`
	Rate int    `json:"rate,omitempty"`
}

// TurnDetection is the service's turn detection (server_vad or
// semantic_vad); this worker always sends it as null.
type TurnDetection struct {
	Type              string `json:"type"`
	CreateResponse    *bool  `json:"create_response,omitempty"`
	InterruptResponse *bool  `json:"interrupt_response,omitempty"`
}

// Response is the response object of response.created and response.done.
type Response struct {
	ID               string            `json:"id"`
	Object           string            `json:"object,omitempty"` // "realtime.response"
	Status           string            `json:"status,omitempty"`
	StatusDetails    *StatusDetails    `json:"status_details,omitempty"`
	ConversationID   string            `json:"conversation_id,omitempty"`
	OutputModalities []string          `json:"output_modalities,omitempty"`
	Metadata         map[string]string `json:"metadata,omitempty"`
	Usage            *Usage            `json:"usage,omitempty"`
}

// StatusDetails says why a response is cancelled, incomplete or failed.
type StatusDetails struct {
	Type   string       `json:"type,omitempty"`
	Reason string       `json:"reason,omitempty"`
	Error  *StatusError `json:"error,omitempty"`
}

// StatusError is status_details.error of a failed response.
type StatusError struct {
	Type string `json:"type,omitempty"`
	Code string `json:"code,omitempty"`
}

// Usage is response.usage: token counts of one response.
type Usage struct {
	TotalTokens        int64               `json:"total_tokens"`
	InputTokens        int64               `json:"input_tokens"`
	OutputTokens       int64               `json:"output_tokens"`
	InputTokenDetails  *InputTokenDetails  `json:"input_token_details,omitempty"`
	OutputTokenDetails *OutputTokenDetails `json:"output_token_details,omitempty"`
}

// InputTokenDetails is usage.input_token_details.
type InputTokenDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
	TextTokens   int64 `json:"text_tokens"`
	AudioTokens  int64 `json:"audio_tokens"`
	ImageTokens  int64 `json:"image_tokens,omitempty"`
}

// OutputTokenDetails is usage.output_token_details.
type OutputTokenDetails struct {
	TextTokens  int64 `json:"text_tokens"`
	AudioTokens int64 `json:"audio_tokens"`
}

// ---- client events ----

// ClientEvent is implemented by every client event type. EncodeClientEvent
// writes the canonical "type", so callers need not set Type.
type ClientEvent interface {
	ClientEventType() string
}

// SessionUpdate is session.update.
type SessionUpdate struct {
	EventID string  `json:"event_id,omitempty"`
	Type    string  `json:"type"`
	Session Session `json:"session"`
}

// InputAudioBufferAppend is input_audio_buffer.append; Audio is base64
// PCM16 mono at ServiceRate (see EncodeAudio).
type InputAudioBufferAppend struct {
	EventID string `json:"event_id,omitempty"`
	Type    string `json:"type"`
	Audio   string `json:"audio"`
}

// InputAudioBufferCommit is input_audio_buffer.commit: the user turn ends.
type InputAudioBufferCommit struct {
	EventID string `json:"event_id,omitempty"`
	Type    string `json:"type"`
}

// InputAudioBufferClear is input_audio_buffer.clear.
type InputAudioBufferClear struct {
	EventID string `json:"event_id,omitempty"`
	Type    string `json:"type"`
}

// ResponseCreate is response.create.
type ResponseCreate struct {
	EventID  string          `json:"event_id,omitempty"`
	Type     string          `json:"type"`
	Response *ResponseParams `json:"response,omitempty"`
}

// ResponseParams are the response.create overrides this service uses.
type ResponseParams struct {
	OutputModalities []string          `json:"output_modalities,omitempty"`
	Instructions     string            `json:"instructions,omitempty"`
	Metadata         map[string]string `json:"metadata,omitempty"`
}

// ResponseCancel is response.cancel; without ResponseID it cancels the
// response in progress.
type ResponseCancel struct {
	EventID    string `json:"event_id,omitempty"`
	Type       string `json:"type"`
	ResponseID string `json:"response_id,omitempty"`
}

// OutputAudioBufferClear is output_audio_buffer.clear: drop audio not yet
// played.
type OutputAudioBufferClear struct {
	EventID string `json:"event_id,omitempty"`
	Type    string `json:"type"`
}

func (*SessionUpdate) ClientEventType() string          { return TypeSessionUpdate }
func (*InputAudioBufferAppend) ClientEventType() string { return TypeInputAudioBufferAppend }
func (*InputAudioBufferCommit) ClientEventType() string { return TypeInputAudioBufferCommit }
func (*InputAudioBufferClear) ClientEventType() string  { return TypeInputAudioBufferClear }
func (*ResponseCreate) ClientEventType() string         { return TypeResponseCreate }
func (*ResponseCancel) ClientEventType() string         { return TypeResponseCancel }
func (*OutputAudioBufferClear) ClientEventType() string { return TypeOutputAudioBufferClear }

// NewSessionUpdate is the session.update this worker sends at start: audio
// in and out as PCM16 at ServiceRate, audio output only, and turn detection
// off, because the gate decides turns.
func NewSessionUpdate(instructions, voice string) *SessionUpdate {
	return &SessionUpdate{
		Type: TypeSessionUpdate,
		Session: Session{
			Type:             "realtime",
			OutputModalities: []string{"audio"},
			Instructions:     instructions,
			Audio: &SessionAudio{
				Input:  &AudioInput{Format: &AudioFormat{Type: AudioFormatPCM, Rate: ServiceRate}},
				Output: &AudioOutput{Format: &AudioFormat{Type: AudioFormatPCM, Rate: ServiceRate}, Voice: voice},
			},
		},
	}
}

// ---- server events ----

// ServerMessage is implemented by every parsed server event type:
// *SessionCreated, *SessionUpdated, *InputAudioBufferCommitted,
// *InputAudioBufferCleared, *ResponseCreated, *ResponseOutputAudioDelta,
// *ResponseOutputAudioDone, *ResponseOutputAudioTranscriptDelta,
// *ResponseDone, *OutputAudioBufferCleared, *ErrorEvent,
// *RateLimitsUpdated and *UnknownServerEvent.
type ServerMessage interface {
	ServerEventType() string
}

// SessionCreated is session.created, the first event of a connection.
type SessionCreated struct {
	EventID string  `json:"event_id,omitempty"`
	Type    string  `json:"type"`
	Session Session `json:"session"`
}

// SessionUpdated is session.updated, the answer to session.update.
type SessionUpdated struct {
	EventID string  `json:"event_id,omitempty"`
	Type    string  `json:"type"`
	Session Session `json:"session"`
}

// InputAudioBufferCommitted is input_audio_buffer.committed: the buffer
// became user item ItemID.
type InputAudioBufferCommitted struct {
	EventID        string `json:"event_id,omitempty"`
	Type           string `json:"type"`
	PreviousItemID string `json:"previous_item_id,omitempty"`
	ItemID         string `json:"item_id"`
}

// InputAudioBufferCleared is input_audio_buffer.cleared.
type InputAudioBufferCleared struct {
	EventID string `json:"event_id,omitempty"`
	Type    string `json:"type"`
}

// ResponseCreated is response.created; Response.ID names the response in
// every later event of it.
type ResponseCreated struct {
	EventID  string   `json:"event_id,omitempty"`
	Type     string   `json:"type"`
	Response Response `json:"response"`
}

// ResponseOutputAudioDelta is response.output_audio.delta. Delta is base64
// PCM16 mono at ServiceRate; Audio holds it decoded (ParseServerEvent and
// the simulator fill it; it is not part of the JSON).
type ResponseOutputAudioDelta struct {
	EventID      string  `json:"event_id,omitempty"`
	Type         string  `json:"type"`
	ResponseID   string  `json:"response_id"`
	ItemID       string  `json:"item_id"`
	OutputIndex  int     `json:"output_index"`
	ContentIndex int     `json:"content_index"`
	Delta        string  `json:"delta"`
	Audio        []int16 `json:"-"`
}

// ResponseOutputAudioDone is response.output_audio.done.
type ResponseOutputAudioDone struct {
	EventID      string `json:"event_id,omitempty"`
	Type         string `json:"type"`
	ResponseID   string `json:"response_id"`
	ItemID       string `json:"item_id"`
	OutputIndex  int    `json:"output_index"`
	ContentIndex int    `json:"content_index"`
}

// ResponseOutputAudioTranscriptDelta is
// response.output_audio_transcript.delta: text of the audio being sent.
type ResponseOutputAudioTranscriptDelta struct {
	EventID      string `json:"event_id,omitempty"`
	Type         string `json:"type"`
	ResponseID   string `json:"response_id"`
	ItemID       string `json:"item_id"`
	OutputIndex  int    `json:"output_index"`
	ContentIndex int    `json:"content_index"`
	Delta        string `json:"delta"`
}

// ResponseDone is response.done: the response ended with Response.Status
// (completed, cancelled, failed or incomplete) and Response.Usage.
type ResponseDone struct {
	EventID  string   `json:"event_id,omitempty"`
	Type     string   `json:"type"`
	Response Response `json:"response"`
}

// OutputAudioBufferCleared is output_audio_buffer.cleared, the answer to
// output_audio_buffer.clear.
type OutputAudioBufferCleared struct {
	EventID    string `json:"event_id,omitempty"`
	Type       string `json:"type"`
	ResponseID string `json:"response_id,omitempty"`
}

// ErrorEvent is the error server event. The connection stays up unless the
// upstream also ends (Upstream.Err).
type ErrorEvent struct {
	EventID string      `json:"event_id,omitempty"`
	Type    string      `json:"type"`
	Error   ErrorDetail `json:"error"`
}

// ErrorDetail is error.error.
type ErrorDetail struct {
	Type    string `json:"type"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
	// EventID is the client event that caused the error, if any.
	EventID string `json:"event_id,omitempty"`
}

// RateLimitsUpdated is rate_limits.updated.
type RateLimitsUpdated struct {
	EventID    string      `json:"event_id,omitempty"`
	Type       string      `json:"type"`
	RateLimits []RateLimit `json:"rate_limits"`
}

// RateLimit is one entry of rate_limits.updated.
type RateLimit struct {
	Name         string  `json:"name"`
	Limit        int64   `json:"limit"`
	Remaining    int64   `json:"remaining"`
	ResetSeconds float64 `json:"reset_seconds"`
}

// UnknownServerEvent is a well-formed event of a type this package does not
// model; the protocol has many (conversation.item.*, response.output_item.*,
// ...). Its JSON is in ServerEvent.Raw.
type UnknownServerEvent struct {
	EventID string `json:"event_id,omitempty"`
	Type    string `json:"type"`
}

func (*SessionCreated) ServerEventType() string            { return TypeSessionCreated }
func (*SessionUpdated) ServerEventType() string            { return TypeSessionUpdated }
func (*InputAudioBufferCommitted) ServerEventType() string { return TypeInputAudioBufferCommitted }
func (*InputAudioBufferCleared) ServerEventType() string   { return TypeInputAudioBufferCleared }
func (*ResponseCreated) ServerEventType() string           { return TypeResponseCreated }
func (*ResponseOutputAudioDelta) ServerEventType() string  { return TypeResponseOutputAudioDelta }
func (*ResponseOutputAudioDone) ServerEventType() string   { return TypeResponseOutputAudioDone }
func (*ResponseOutputAudioTranscriptDelta) ServerEventType() string {
	return TypeResponseOutputAudioTranscriptDelta
}
func (*ResponseDone) ServerEventType() string             { return TypeResponseDone }
func (*OutputAudioBufferCleared) ServerEventType() string { return TypeOutputAudioBufferCleared }
func (*ErrorEvent) ServerEventType() string               { return TypeError }
func (*RateLimitsUpdated) ServerEventType() string        { return TypeRateLimitsUpdated }
func (e *UnknownServerEvent) ServerEventType() string     { return e.Type }
