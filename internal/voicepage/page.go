// Package voicepage is the realtime process's web page: a person clicks
// Start, talks to the assistant over WHIP, hears it, and watches the speech
// gate decide, live from the session's events channel. The page is plain
// HTML, CSS and JavaScript embedded in the binary: there is no build step.
package voicepage

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
)

// DefaultTemporalUI is the Temporal Web UI of a local dev server.
const DefaultTemporalUI = "http://localhost:8233"

//go:embed static
var static embed.FS

// Config is what the page is told through /voice/config.json.
type Config struct {
	// Token prefills the bearer token field. Give the development token
	// only; leave it empty when real tokens are configured.
	Token string
	// TemporalUI is the base URL of the Temporal Web UI the workflow link
	// points at (DefaultTemporalUI when empty or not an http(s) URL). A
	// person may override it with the page's ?temporalUI= query parameter.
	TemporalUI string
	// Namespace is the Temporal namespace of the sessions' workflows
	// ("default" when empty).
	Namespace string
}

// pageConfig is the JSON the page reads at start.
type pageConfig struct {
	Token      string `json:"token"`
	TemporalUI string `json:"temporalUI"`
	Namespace  string `json:"namespace"`
	WHIP       string `json:"whip"`
}

// WHIPPath is where the page posts its offer (the same listener).
const WHIPPath = "/whip"

// Handler serves the page at "/" and its files under "/voice/"; any other
// path is answered 404.
func Handler(cfg Config) http.Handler {
	return Mount(http.NotFoundHandler(), cfg)
}

// Mount serves the page at "/" and its files under "/voice/", and hands
// every other request (WHIP) to next.
func Mount(next http.Handler, cfg Config) http.Handler {
	pc := pageConfig{Token: cfg.Token, TemporalUI: sanitizeUI(cfg.TemporalUI), Namespace: cfg.Namespace, WHIP: WHIPPath}
	if pc.Namespace == "" {
		pc.Namespace = "default"
	}
	cfgJSON, _ := json.Marshal(pc) // plain strings: cannot fail
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		page := p == "/" || p == "/index.html" || strings.HasPrefix(p, "/voice/")
		if !page {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		setHeaders(w.Header())
		switch {
		case p == "/voice/config.json":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(cfgJSON)
		case p == "/" || p == "/index.html":
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/"
			files.ServeHTTP(w, r2)
		default:
			r2 := r.Clone(r.Context())
			r2.URL.Path = strings.TrimPrefix(p, "/voice")
			if r2.URL.Path == "/" || r2.URL.Path == "/index.html" {
				http.NotFound(w, r)
				return
			}
			files.ServeHTTP(w, r2)
		}
	})
}

// setHeaders keeps the page to its own origin: scripts and styles from the
// binary, requests only to this server (WHIP and the config).
func setHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; media-src 'self' blob: mediastream:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Permissions-Policy", "microphone=(self), camera=()")
}

// sanitizeUI returns u without a trailing slash if it is an absolute
// http(s) URL, else DefaultTemporalUI.
func sanitizeUI(u string) string {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return DefaultTemporalUI
	}
	return strings.TrimRight(p.String(), "/")
}
