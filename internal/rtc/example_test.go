package rtc_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/inferflow/inferflow/internal/rtc"
)

// How a session package wires a caller: read the microphone as RTP fields,
// play encoded Opus back, and send events without ever blocking the audio.
func ExampleNewServer() {
	srv, err := rtc.NewServer(rtc.Config{
		Tokens:      map[string]string{"s3cret-token-1": "alice"},
		Network:     rtc.Network{UDPMuxAddress: ":8443", PublicIPs: []string{"198.51.100.10"}},
		IdleTimeout: 20 * time.Second,
	}, func(ctx context.Context, s *rtc.Session) {
		s.SetSnapshot(func() any { return map[string]any{"user": s.UserID(), "stats": s.Stats()} })
		codec, err := s.InboundCodec(ctx)
		if err != nil {
			return
		}
		_ = codec // pick the decoder: codec.MimeType, codec.ClockRate
		s.SendEvent([]byte(`{"type":"session.started"}`))
		for {
			p, err := s.ReadPacket(ctx)
			if errors.Is(err, rtc.ErrClosed) || ctx.Err() != nil {
				return // the session ended; returning lets the server free its slot
			}
			_ = p // decode p.Payload, gate, send to the model; reply with s.WriteAudio(opus, 20*time.Millisecond)
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(rtc.WHIPPath, srv.Handler())
	mux.Handle(rtc.WHIPPath+"/", srv.Handler())
	_ = mux // serve it; on shutdown: srv.Close(ctx)
}
