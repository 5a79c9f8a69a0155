package realtimemodel

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readEvent(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "server_events", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

func TestParseServerEventSamples(t *testing.T) {
	tests := []struct {
		file  string
		check func(v ServerMessage) bool
	}{
		{"session_created.json", func(v ServerMessage) bool {
			s := v.(*SessionCreated).Session
			return s.ID == "sess_C9G5QPteg4UIbotdKLoYQ" && s.Audio.Input.TurnDetection.Type == "server_vad" &&
				*s.Audio.Input.TurnDetection.CreateResponse && s.Audio.Input.Format.Rate == 24000
		}},
		{"session_updated.json", func(v ServerMessage) bool {
			s := v.(*SessionUpdated).Session
			return s.Audio.Input.TurnDetection == nil && s.Audio.Output.Voice == "marin" && s.Instructions == "Be brief."
		}},
		{"committed.json", func(v ServerMessage) bool {
			c := v.(*InputAudioBufferCommitted)
			return c.ItemID == "msg_002" && c.PreviousItemID == "msg_001"
		}},
		{"committed_first.json", func(v ServerMessage) bool {
			c := v.(*InputAudioBufferCommitted)
			return c.ItemID == "msg_001" && c.PreviousItemID == ""
		}},
		{"response_created.json", func(v ServerMessage) bool {
			r := v.(*ResponseCreated).Response
			return r.ID == "resp_C9G8p7IH2WxLbkgPNouYL" && r.Status == StatusInProgress && r.Usage == nil &&
				r.Metadata[MetadataTagKey] == "hold-7" && r.ConversationID == "conv_C9G8mmBkLhQJwCon3hoJN"
		}},
		{"audio_delta.json", func(v ServerMessage) bool {
			d := v.(*ResponseOutputAudioDelta)
			return d.ResponseID == "resp_C9G8p7IH2WxLbkgPNouYL" && d.ItemID == "item_C9G8pGVKYnaZu8PH5YQ9O" &&
				reflect.DeepEqual(d.Audio, []int16{0, 1, -1, -32768, 32512, 32767})
		}},
		{"audio_done.json", func(v ServerMessage) bool {
			return v.(*ResponseOutputAudioDone).ResponseID == "resp_C9G8p7IH2WxLbkgPNouYL"
		}},
		{"transcript_delta.json", func(v ServerMessage) bool {
			d := v.(*ResponseOutputAudioTranscriptDelta)
			return d.Delta == "Hello, " && d.ResponseID == "resp_CCXGQfP"
		}},
		{"response_done.json", func(v ServerMessage) bool {
			r := v.(*ResponseDone).Response
			u := r.Usage
			return r.Status == StatusCompleted && u.TotalTokens == 253 && u.InputTokens == 132 && u.OutputTokens == 121 &&
				u.InputTokenDetails.CachedTokens == 64 && u.InputTokenDetails.AudioTokens == 13 &&
				u.OutputTokenDetails.AudioTokens == 91 && r.Metadata == nil
		}},
		{"response_done_cancelled.json", func(v ServerMessage) bool {
			r := v.(*ResponseDone).Response
			return r.Status == StatusCancelled && r.StatusDetails.Reason == "client_cancelled" && r.Usage.OutputTokens == 10
		}},
		{"response_done_failed.json", func(v ServerMessage) bool {
			r := v.(*ResponseDone).Response
			return r.Status == StatusFailed && r.StatusDetails.Error.Code == "server_error" && r.Usage.OutputTokenDetails == nil
		}},
		{"cleared.json", func(v ServerMessage) bool { return v.(*OutputAudioBufferCleared).ResponseID == "resp_abc123" }},
		{"input_cleared.json", func(v ServerMessage) bool { return v.(*InputAudioBufferCleared).EventID == "event_1314" }},
		{"error.json", func(v ServerMessage) bool {
			e := v.(*ErrorEvent).Error
			return e.Type == "invalid_request_error" && e.Code == "invalid_event" && e.EventID == "event_567" && e.Param == ""
		}},
		{"rate_limits.json", func(v ServerMessage) bool {
			r := v.(*RateLimitsUpdated).RateLimits
			return len(r) == 2 && r[1].Name == "tokens" && r[1].Remaining == 49950 && r[1].ResetSeconds == 60.5
		}},
		{"unknown_item_added.json", func(v ServerMessage) bool {
			u := v.(*UnknownServerEvent)
			return u.Type == "conversation.item.added" && u.EventID == "event_C9G8pjSJCfRNEhMEnYAVy"
		}},
		{"unknown_odd_fields.json", func(v ServerMessage) bool {
			u := v.(*UnknownServerEvent)
			return u.Type == "response.function_call_arguments.delta" && u.EventID == "event_5354"
		}},
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "server_events", "*.json"))
	if len(files) != len(tests) {
		t.Fatalf("%d sample files, %d cases", len(files), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			raw := readEvent(t, tc.file)
			ev, err := ParseServerEvent(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ev.Raw, raw) || ev.Type != ev.Value.ServerEventType() {
				t.Fatalf("Raw or Type not kept: %q %q", ev.Type, ev.Raw)
			}
			if !tc.check(ev.Value) {
				t.Fatalf("parsed %#v", ev.Value)
			}
		})
	}
}

func TestParseServerEventErrors(t *testing.T) {
	big := `{"type":"x","pad":"` + strings.Repeat("a", MaxServerEventBytes) + `"}`
	hugeAudio := base64.StdEncoding.EncodeToString(make([]byte, MaxAudioDeltaBytes+2))
	longID := strings.Repeat("r", MaxIDBytes+1)
	tests := []struct {
		name string
		in   string
		kind error
	}{
		{"not json", `{"type":`, ErrMalformedEvent},
		{"not an object", `[1,2]`, ErrMalformedEvent},
		{"empty", ``, ErrMalformedEvent},
		{"null", `null`, ErrMissingType},
		{"no type", `{"event_id":"e"}`, ErrMissingType},
		{"type not a string", `{"type":5}`, ErrMalformedEvent},
		{"too large", big, ErrEventTooLarge},
		{"known type, wrong field type", `{"type":"response.done","response":{"id":5}}`, ErrMalformedEvent},
		{"response.created without id", `{"type":"response.created","response":{}}`, ErrMalformedEvent},
		{"response.done without response", `{"type":"response.done"}`, ErrMalformedEvent},
		{"negative usage", `{"type":"response.done","response":{"id":"r","usage":{"total_tokens":-1,"input_tokens":0,"output_tokens":0}}}`, ErrInvalidUsage},
		{"huge usage", `{"type":"response.done","response":{"id":"r","usage":{"total_tokens":1,"input_tokens":0,"output_tokens":1,"output_token_details":{"text_tokens":99999999999999,"audio_tokens":0}}}}`, ErrInvalidUsage},
		{"usage overflows int64", `{"type":"response.done","response":{"id":"r","usage":{"total_tokens":1e30}}}`, ErrMalformedEvent},
		{"delta not base64", `{"type":"response.output_audio.delta","response_id":"r","delta":"!!"}`, ErrInvalidAudio},
		{"delta odd bytes", `{"type":"response.output_audio.delta","response_id":"r","delta":"AAAA"}`, ErrInvalidAudio},
		{"delta too large", `{"type":"response.output_audio.delta","response_id":"r","delta":"` + hugeAudio + `"}`, ErrAudioTooLarge},
		{"delta without response_id", `{"type":"response.output_audio.delta","delta":"AAA="}`, ErrMalformedEvent},
		{"long response id", `{"type":"response.created","response":{"id":"` + longID + `"}}`, ErrInvalidFieldSize},
		{"long item id", `{"type":"input_audio_buffer.committed","item_id":"` + longID + `"}`, ErrInvalidFieldSize},
		{"long event id", `{"type":"rate_limits.updated","event_id":"` + longID + `"}`, ErrInvalidFieldSize},
		{"long unknown type", `{"type":"` + longID + `"}`, ErrInvalidFieldSize},
		{"error without object", `{"type":"error"}`, ErrMalformedEvent},
		{"session without object", `{"type":"session.created"}`, ErrMalformedEvent},
		{"rate limits wrong shape", `{"type":"rate_limits.updated","rate_limits":{"a":1}}`, ErrMalformedEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParseServerEvent([]byte(tc.in))
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrServerEvent) || !errors.Is(err, tc.kind) || pe.Kind != tc.kind {
				t.Fatalf("err = %v (value %#v), want kind %v", err, ev.Value, tc.kind)
			}
			if err.Error() == "" || ev.Value != nil {
				t.Fatal("error without message or with a value")
			}
		})
	}
}

func TestAudioCodec(t *testing.T) {
	for _, pcm := range [][]int16{nil, {0}, {-32768, 32767, 1, -1}, tone16k(480, 440)} {
		got, err := DecodeAudio(EncodeAudio(pcm))
		if err != nil || len(got) != len(pcm) || (len(pcm) > 0 && !reflect.DeepEqual(got, pcm)) {
			t.Fatalf("round trip of %d samples: %v %v", len(pcm), len(got), err)
		}
	}
}

func TestClientEventsRoundTrip(t *testing.T) {
	tests := []struct {
		ev   ClientEvent
		want string // must appear in the JSON
	}{
		{NewSessionUpdate("Be brief.", "marin"), `"turn_detection":null`},
		{&InputAudioBufferAppend{Audio: EncodeAudio([]int16{1, 2, 3})}, `"audio":"AQACAAMA"`},
		{&InputAudioBufferCommit{EventID: "c1"}, `"event_id":"c1"`},
		{&InputAudioBufferClear{}, `"type":"input_audio_buffer.clear"`},
		{&ResponseCreate{Response: &ResponseParams{Metadata: map[string]string{MetadataTagKey: "h1"}}}, `"metadata":{"tag":"h1"}`},
		{&ResponseCancel{ResponseID: "resp_1"}, `"response_id":"resp_1"`},
		{&OutputAudioBufferClear{}, `"type":"output_audio_buffer.clear"`},
	}
	for _, tc := range tests {
		t.Run(tc.ev.ClientEventType(), func(t *testing.T) {
			raw, err := EncodeClientEvent(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(raw, []byte(tc.want)) || !bytes.Contains(raw, []byte(`"type":"`+tc.ev.ClientEventType()+`"`)) {
				t.Fatalf("%s lacks %s", raw, tc.want)
			}
			back, err := ParseClientEvent(raw)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := EncodeClientEvent(back)
			if back.ClientEventType() != tc.ev.ClientEventType() || !bytes.Equal(raw, again) {
				t.Fatalf("round trip %s -> %s", raw, again)
			}
		})
	}
	if _, err := ParseClientEvent([]byte(`{"type":"response.done"}`)); !errors.Is(err, ErrMalformedEvent) {
		t.Fatalf("server event parsed as client event: %v", err)
	}
	// The session.update shape a realtime service expects.
	raw, _ := EncodeClientEvent(NewSessionUpdate("", "v"))
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	in := m["session"].(map[string]any)["audio"].(map[string]any)["input"].(map[string]any)
	if td, ok := in["turn_detection"]; !ok || td != nil || in["format"].(map[string]any)["rate"] != float64(ServiceRate) {
		t.Fatalf("session.update input %v", in)
	}
}
