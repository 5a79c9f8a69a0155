package payloadcrypt

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"slices"
	"time"

	"go.temporal.io/sdk/converter"
)

// maxBody bounds a codec request: Temporal refuses payloads over 2 MiB, and
// the Web UI sends an event's payloads together.
const maxBody = 16 << 20

// Handler is the codec server of the Temporal codec server protocol: POST
// .../encode and .../decode with {"payloads":[...]} as JSON, answered with
// the payloads encoded or decoded by the keyring. The Web UI calls it from
// the browser, so it answers CORS preflights for origins; with token set, a
// request must carry Authorization: Bearer token (`temporal --codec-auth`).
func Handler(keys *Keyring, origins []string, token string) http.Handler {
	codec := converter.NewPayloadCodecHTTPHandler(Codec{Keys: keys})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(origins, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if token != "" && !bearer(r, token) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		codec.ServeHTTP(w, r)
	})
}

func bearer(r *http.Request, token string) bool {
	got := r.Header.Get("Authorization")
	want := "Bearer " + token
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// Serve listens on c.Addr and serves Handler until Close. The caller owns
// the returned server.
func (c ServerConfig) Serve(keys *Keyring) (*Server, error) {
	if keys.Active() == "" {
		return nil, ErrNoKeys
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return nil, Settings.CodecAddr.Errorf("%v", err)
	}
	s := &Server{
		Addr: ln.Addr().String(),
		srv:  &http.Server{Handler: Handler(keys, c.OriginList(), c.Token), ReadHeaderTimeout: 10 * time.Second},
		done: make(chan struct{}),
	}
	go func() { defer close(s.done); _ = s.srv.Serve(ln) }()
	return s, nil
}

// Server is a running codec server.
type Server struct {
	Addr string // host:port it listens on
	srv  *http.Server
	done chan struct{}
}

// URL is the endpoint to give the Web UI (--ui-codec-endpoint) and the CLI
// (--codec-endpoint).
func (s *Server) URL() string { return "http://" + s.Addr }

// Close stops the server, letting requests in flight finish for up to 5 s.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}
