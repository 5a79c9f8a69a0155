package payloadkeys

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/inferflow/inferflow/pkg/payloadcrypt"
)

// Serve listens on c.Addr and serves Handler until Close. The caller owns
// the returned server.
func (c ServerConfig) Serve(keys *payloadcrypt.Keyring) (*Server, error) {
	if keys.Active() == "" {
		return nil, ErrNoKeys
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return nil, Settings.CodecAddr.Errorf("%v", err)
	}
	s := &Server{
		Addr: ln.Addr().String(),
		srv:  &http.Server{Handler: payloadcrypt.Handler(keys, c.OriginList(), c.Token), ReadHeaderTimeout: 10 * time.Second},
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
