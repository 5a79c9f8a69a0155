package wire

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestUsageJSON(t *testing.T) {
	tests := []struct {
		name, in string
		want     Usage
	}{
		{"camelCase", `{"promptTokens":1,"completionTokens":2,"totalTokens":3}`, Usage{1, 2, 3}},
		{"snake_case of older histories", `{"prompt_tokens":4,"completion_tokens":5,"total_tokens":9}`, Usage{4, 5, 9}},
		{"camelCase wins", `{"promptTokens":1,"prompt_tokens":7,"completionTokens":2,"totalTokens":3}`, Usage{1, 2, 3}},
		{"empty", `{}`, Usage{}},
	}
	for _, tt := range tests {
		var got Usage
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
	if err := json.Unmarshal([]byte(`{"promptTokens":"x"}`), new(Usage)); err == nil {
		t.Error("a non-number must not decode")
	}
	b, _ := json.Marshal(Usage{1, 2, 3})
	if string(b) != `{"promptTokens":1,"completionTokens":2,"totalTokens":3}` {
		t.Errorf("marshal = %s", b)
	}
	// A model result inside an old history decodes whole.
	var r ModelResult
	if err := json.Unmarshal([]byte(`{"text":"hi","modelId":"m","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`), &r); err != nil || r.Usage.TotalTokens != 2 {
		t.Errorf("model result = %+v, %v", r, err)
	}
}

var pngMagic = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0}

func TestImageCheck(t *testing.T) {
	ref := &BlobRef{Key: strings.Repeat("a", 64), SHA256: strings.Repeat("a", 64), Size: 10, MediaType: MediaTypePNG}
	tests := []struct {
		name    string
		im      Image
		wantErr string
	}{
		{"inline png", Image{MediaType: MediaTypePNG, Data: pngMagic}, ""},
		{"ref", Image{MediaType: MediaTypePNG, Ref: ref}, ""},
		{"unsupported type", Image{MediaType: "image/gif", Data: pngMagic}, "mediaType"},
		{"both", Image{MediaType: MediaTypePNG, Data: pngMagic, Ref: ref}, "either"},
		{"empty", Image{MediaType: MediaTypePNG}, "empty"},
		{"declared jpeg, is png", Image{MediaType: MediaTypeJPEG, Data: pngMagic}, "declared"},
		{"not an image", Image{MediaType: MediaTypePNG, Data: []byte("hello")}, "not jpeg"},
		{"too big", Image{MediaType: MediaTypePNG, Data: append(pngMagic, make([]byte, MaxInlineImageBytes)...)}, "limit"},
		{"ref of another type", Image{MediaType: MediaTypeJPEG, Ref: ref}, "differs"},
		{"bad ref", Image{MediaType: MediaTypePNG, Ref: &BlobRef{Key: "../x", MediaType: MediaTypePNG}}, "invalid blob reference"},
	}
	for _, tt := range tests {
		err := tt.im.Check()
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: Check() = %v, want error containing %q", tt.name, err, tt.wantErr)
		}
	}
	if err := (BlobRef{Key: "x"}).Validate(); !errors.Is(err, ErrBadBlobRef) {
		t.Errorf("bad ref: %v", err)
	}
}

func TestValidateValuations(t *testing.T) {
	tests := []struct {
		vs []Valuation
		ok bool
	}{
		{[]Valuation{{1, 0.5}}, true},
		{nil, false},
		{[]Valuation{{math.NaN(), 0.5}}, false},
		{[]Valuation{{math.Inf(1), 0.5}}, false},
		{[]Valuation{{1, 1.5}}, false},
		{[]Valuation{{1, math.NaN()}}, false},
	}
	for _, tt := range tests {
		if err := ValidateValuations(tt.vs); (err == nil) != tt.ok {
			t.Errorf("ValidateValuations(%v) = %v, want ok %v", tt.vs, err, tt.ok)
		}
	}
}

func TestValidateID(t *testing.T) {
	for id, ok := range map[string]bool{
		"item-1": true, "": false, "  ": false, strings.Repeat("x", MaxIDLength+1): false, "a\x00b": false, "a\uFFFDb": false,
	} {
		if err := ValidateID("id", id); (err == nil) != ok {
			t.Errorf("ValidateID(%q) = %v, want ok %v", id, err, ok)
		}
	}
}

// The DLQ payload keeps the field names of schema version 1.
func TestDLQPayloadJSON(t *testing.T) {
	p := DLQPayload{SchemaVersion: 1, Type: DLQTransitionFailed, OccurredAt: "t", Service: DLQService, JobID: "j", UserID: "u", ModelID: "m",
		AttemptedFrom: StateInferenceSucceeded, AttemptedTo: StateCaptured, TransitionError: &ErrorMeta{Name: "Error", Message: "x"}}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	want := []string{"schemaVersion", "type", "occurredAt", "service", "jobId", "userId", "modelId", "attemptedFrom", "attemptedTo", "transitionError", "retriable"}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("payload lacks %s: %s", k, b)
		}
	}
	if len(m) != len(want) || m["retriable"] != false {
		t.Errorf("payload = %s", b)
	}
}
