package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// Off by default: no endpoint, no provider, no interceptor, nothing to flush.
func TestOffByDefault(t *testing.T) {
	tr, err := Config{Protocol: ProtocolHTTP}.Start(context.Background(), "test")
	if err != nil || tr != nil {
		t.Fatalf("Start = %v, %v; want nil, nil", tr, err)
	}
	if len(tr.Interceptors()) != 0 {
		t.Fatal("interceptors with tracing off")
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, spans are exported over OTLP/HTTP
// there, with the service name, by the time Shutdown returns.
func TestExportsOverOTLP(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" && r.Header.Get("Content-Type") == "application/x-protobuf" {
			posts.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL) // the exporter reads it too
	t.Setenv("OTEL_SERVICE_NAME", "")

	tr, err := Config{Endpoint: srv.URL, Protocol: ProtocolHTTP}.Start(context.Background(), "inferflow-test")
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Interceptors()) != 1 {
		t.Fatalf("%d interceptors, want 1", len(tr.Interceptors()))
	}
	_, span := tr.tp.Tracer("test").Start(context.Background(), "work")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if posts.Load() == 0 {
		t.Fatal("no OTLP export reached the endpoint")
	}
}

func TestEnabled(t *testing.T) {
	for _, tt := range []struct {
		c    Config
		want bool
	}{
		{Config{}, false},
		{Config{Protocol: ProtocolGRPC}, false},
		{Config{Endpoint: "http://h:4318"}, true},
		{Config{TracesEndpoint: "http://h:4318/v1/traces"}, true},
	} {
		if got := tt.c.Enabled(); got != tt.want {
			t.Errorf("%+v.Enabled() = %v", tt.c, got)
		}
	}
}
