package gate

import (
	"encoding/json"
	"fmt"
)

// ServerEvent is the part of a realtime server event the barrier reads.
type ServerEvent struct {
	// Type is the event type, e.g. "response.created".
	Type string
	// ResponseID is response.id, else response_id; empty when absent.
	ResponseID string
}

// Server event types that move the barrier.
const (
	ServerResponseCreated          = "response.created"
	ServerOutputAudioDelta         = "response.output_audio.delta"
	ServerOutputAudioDone          = "response.output_audio.done"
	ServerOutputAudioTranscriptDel = "response.output_audio_transcript.delta"
	ServerOutputTextDelta          = "response.output_text.delta"
	ServerResponseDone             = "response.done"
	ServerOutputAudioBufferCleared = "output_audio_buffer.cleared"
)

// ParseServerEvent reads a realtime server event in its JSON wire form.
// Fields of the wrong type are ignored (CONTRACT.md#playback-barrier); only input that is
// not a JSON object is an error.
func ParseServerEvent(data []byte) (ServerEvent, error) {
	var raw struct {
		Type       json.RawMessage `json:"type"`
		Response   json.RawMessage `json:"response"`
		ResponseID json.RawMessage `json:"response_id"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return ServerEvent{}, fmt.Errorf("%w: %w", ErrServerEvent, err)
	}
	var ev ServerEvent
	_ = json.Unmarshal(raw.Type, &ev.Type)
	var resp struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(raw.Response, &resp) == nil {
		_ = json.Unmarshal(resp.ID, &ev.ResponseID)
	}
	if ev.ResponseID == "" {
		_ = json.Unmarshal(raw.ResponseID, &ev.ResponseID)
	}
	return ev, nil
}
