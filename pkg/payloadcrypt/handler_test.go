package payloadcrypt

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

func post(t *testing.T, h http.Handler, path string, ps []*commonpb.Payload, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func payloadsOf(t *testing.T, rec *httptest.ResponseRecorder) []*commonpb.Payload {
	t.Helper()
	var out commonpb.Payloads
	if err := protojson.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	return out.Payloads
}

// The codec server protocol as the Web UI and the CLI speak it.
func TestHandlerEncodeDecode(t *testing.T) {
	secret := fixedKey(4)
	keys := ring(t, "k1:"+secret)
	h := Handler(keys, []string{"http://localhost:8233"}, "")
	clear := jsonPayload(t, map[string]string{"prompt": "hello there"})

	rec := post(t, h, "/encode", []*commonpb.Payload{clear}, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("encode: %d %s", rec.Code, rec.Body)
	}
	enc := payloadsOf(t, rec)
	if string(enc[0].Metadata["encryption-key-id"]) != "k1" || strings.Contains(rec.Body.String(), "hello there") {
		t.Fatalf("encode answered %s", rec.Body)
	}
	// The UI posts to <endpoint>/decode, possibly under a path prefix.
	for _, path := range []string{"/decode", "/codec/decode"} {
		rec = post(t, h, path, enc, map[string]string{"X-Namespace": "default"})
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		if dec := payloadsOf(t, rec); !bytes.Equal(dec[0].Data, clear.Data) {
			t.Fatalf("%s answered %s", path, rec.Body)
		}
	}

	// A payload under a key the server lacks: 400 naming the id, never a key.
	other, _ := Codec{Keys: ring(t, "k9:"+fixedKey(5))}.Encode([]*commonpb.Payload{clear})
	rec = post(t, h, "/decode", other, nil)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `key id "k9"`) {
		t.Fatalf("unknown key: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), secret) || strings.Contains(rec.Body.String(), fixedKey(5)) {
		t.Fatalf("response shows a key: %s", rec.Body)
	}

	for _, bad := range []struct {
		method, path string
		want         int
	}{{http.MethodGet, "/decode", http.StatusNotFound}, {http.MethodPost, "/other", http.StatusNotFound}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(bad.method, bad.path, strings.NewReader("{}")))
		if rec.Code != bad.want {
			t.Errorf("%s %s = %d, want %d", bad.method, bad.path, rec.Code, bad.want)
		}
	}
}

// The Web UI calls from the browser: the preflight and the answer carry
// CORS headers for its origin, and for no other.
func TestHandlerCORS(t *testing.T) {
	h := Handler(ring(t, "k1:"+fixedKey(1)), []string{"http://localhost:8233"}, "")
	tests := []struct {
		origin, wantAllow string
	}{
		{"http://localhost:8233", "http://localhost:8233"},
		{"http://evil.example", ""},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodOptions, "/decode", nil)
		req.Header.Set("Origin", tt.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != tt.wantAllow {
			t.Fatalf("preflight from %s: %d %v", tt.origin, rec.Code, rec.Header())
		}
		if tt.wantAllow != "" && !strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "X-Namespace") {
			t.Fatalf("allowed headers: %v", rec.Header())
		}
		post := post(t, h, "/decode", nil, map[string]string{"Origin": tt.origin})
		if post.Header().Get("Access-Control-Allow-Origin") != tt.wantAllow {
			t.Fatalf("POST from %s: %v", tt.origin, post.Header())
		}
	}
}

func TestHandlerToken(t *testing.T) {
	h := Handler(ring(t, "k1:"+fixedKey(1)), nil, "s3cret")
	tests := []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"s3cret", http.StatusUnauthorized},
		{"Bearer s3cret", http.StatusOK},
	}
	for _, tt := range tests {
		rec := post(t, h, "/decode", nil, map[string]string{"Authorization": tt.auth})
		if rec.Code != tt.want {
			t.Errorf("Authorization %q: %d, want %d", tt.auth, rec.Code, tt.want)
		}
		if strings.Contains(rec.Body.String(), "s3cret") {
			t.Errorf("response shows the token: %s", rec.Body)
		}
	}
}
