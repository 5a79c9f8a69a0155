package voicepage

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMountRoutes(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot) // marks "handed to WHIP"
	})
	h := Mount(next, Config{Token: "dev-token", TemporalUI: "https://ui.example.org/"})
	tests := []struct {
		method, path string
		status       int
		contentType  string
		body         string
	}{
		{"GET", "/", 200, "text/html", `<canvas id="timeline"`},
		{"GET", "/index.html", 200, "text/html", `<button id="start"`},
		{"HEAD", "/", 200, "text/html", ""},
		{"GET", "/voice/page.js", 200, "text/javascript", `createDataChannel("events")`},
		{"GET", "/voice/page.css", 200, "text/css", "--admitted"},
		{"GET", "/voice/config.json", 200, "application/json", `"token":"dev-token"`},
		{"GET", "/voice/nothing.js", 404, "", ""},
		{"GET", "/voice/index.html", 404, "", ""},
		{"POST", "/", 405, "", ""},
		{"POST", "/whip", http.StatusTeapot, "", ""},
		{"DELETE", "/whip/abc", http.StatusTeapot, "", ""},
		{"GET", "/metrics", http.StatusTeapot, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
			}
			if !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("body lacks %q", tc.body)
			}
			if tc.status == 200 && !strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("no CSP on %s", tc.path)
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	tests := []struct {
		cfg            Config
		wantUI, wantNS string
	}{
		{Config{}, DefaultTemporalUI, "default"},
		{Config{TemporalUI: "https://ui.example.org/", Namespace: "prod"}, "https://ui.example.org", "prod"},
		{Config{TemporalUI: "javascript:alert(1)"}, DefaultTemporalUI, "default"},
		{Config{TemporalUI: "/relative"}, DefaultTemporalUI, "default"},
		{Config{TemporalUI: "http://10.0.0.5:8233"}, "http://10.0.0.5:8233", "default"},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		Handler(tc.cfg).ServeHTTP(rec, httptest.NewRequest("GET", "/voice/config.json", nil))
		var got pageConfig
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.TemporalUI != tc.wantUI || got.Namespace != tc.wantNS || got.WHIP != WHIPPath || got.Token != tc.cfg.Token {
			t.Errorf("%+v: config %+v, want UI %q namespace %q", tc.cfg, got, tc.wantUI, tc.wantNS)
		}
	}
}
