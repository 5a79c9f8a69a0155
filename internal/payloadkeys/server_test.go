package payloadkeys

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"

	"github.com/inferflow/inferflow/pkg/payloadcrypt"
)

// Serve on a real listener, as the worker does.
func TestServe(t *testing.T) {
	if _, err := (ServerConfig{Addr: "127.0.0.1:0"}).Serve(nil); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("no keys: %v", err)
	}
	keys, err := payloadcrypt.ParseKeys("k1:" + fixedKey(1))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ServerConfig{Addr: "127.0.0.1:0", Origins: "http://localhost:8233, http://127.0.0.1:8233/"}.Serve(keys)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	enc, _ := payloadcrypt.Codec{Keys: keys}.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"over the wire"`)}})
	body, _ := json.Marshal(map[string]any{"payloads": enc})
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/decode", bytes.NewReader(body))
	req.Header.Set("Origin", "http://127.0.0.1:8233")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), "Im92ZXIgdGhlIHdpcmUi") /* base64 of "over the wire" */ {
		t.Fatalf("%d %s", resp.StatusCode, got)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8233" {
		t.Fatalf("CORS: %v", resp.Header)
	}
	if _, err := (ServerConfig{Addr: s.Addr}).Serve(keys); err == nil || !strings.Contains(err.Error(), "--codec-addr (INFERFLOW_CODEC_ADDR)") {
		t.Fatalf("address in use: %v", err)
	}
}
