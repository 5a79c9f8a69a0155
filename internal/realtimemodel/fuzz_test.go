package realtimemodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseServerEvent: any input is parsed or refused with a *ParseError,
// never a panic; what is parsed keeps its Raw, and re-encoding the value is
// stable (encode, parse, encode gives the same bytes).
func FuzzParseServerEvent(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "server_events", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"type":"response.output_audio.delta","response_id":"r","delta":"AAA="}`))
	f.Add([]byte(`{"type":"response.done","response":{"id":"r","usage":{"total_tokens":-1}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := ParseServerEvent(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrServerEvent) || pe.Kind == nil {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if ev.Type == "" || ev.Value == nil || !bytes.Equal(ev.Raw, data) {
			t.Fatalf("parsed without type, value or raw: %#v", ev)
		}
		if _, unknown := ev.Value.(*UnknownServerEvent); !unknown && ev.Value.ServerEventType() != ev.Type {
			t.Fatalf("value %T for type %q", ev.Value, ev.Type)
		}
		if d, ok := ev.Value.(*ResponseOutputAudioDelta); ok && 2*len(d.Audio) > MaxAudioDeltaBytes {
			t.Fatalf("delta of %d samples passed the bound", len(d.Audio))
		}
		m1, err := json.Marshal(ev.Value)
		if err != nil {
			t.Fatalf("marshal %#v: %v", ev.Value, err)
		}
		ev2, err := ParseServerEvent(m1)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", m1, err)
		}
		m2, _ := json.Marshal(ev2.Value)
		if !bytes.Equal(m1, m2) {
			t.Fatalf("unstable encoding:\n%s\n%s", m1, m2)
		}
	})
}
