// Package tracing turns on OpenTelemetry tracing of Temporal calls: the
// SDK's tracing interceptor (go.temporal.io/sdk/contrib/opentelemetry) on a
// tracer provider that exports over OTLP. It is off unless the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set:
// by default nothing is traced and no connection is attempted.
//
// With the interceptor on the client, a start's span is the parent of the
// workflow's, which is the parent of its activities' spans; an activity's
// context carries its span, so the model provider's HTTP request (otelhttp)
// is a child of it.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"

	"github.com/inferflow/inferflow/internal/envflag"
)

// Protocols of the OTLP exporter.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// Settings are the standard OpenTelemetry variables inferflow reads; the
// exporter reads the rest of OTEL_EXPORTER_OTLP_* (headers, TLS, timeout)
// itself.
var Settings = struct {
	Endpoint       envflag.Spec[string]
	TracesEndpoint envflag.Spec[string]
	Protocol       envflag.Spec[string]
	ServiceName    envflag.Spec[string]
}{
	Endpoint: envflag.Spec[string]{Env: "OTEL_EXPORTER_OTLP_ENDPOINT",
		Help: "OTLP collector URL, e.g. http://127.0.0.1:4318; set, it turns tracing on (off by default)", Check: envflag.Optional(url)},
	TracesEndpoint: envflag.Spec[string]{Env: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		Help: "OTLP URL for traces only (over the endpoint above); set, it turns tracing on", Check: envflag.Optional(url)},
	Protocol: envflag.Spec[string]{Env: "OTEL_EXPORTER_OTLP_PROTOCOL", Default: ProtocolHTTP,
		Help: "OTLP protocol: http/protobuf or grpc", Check: envflag.OneOf(ProtocolHTTP, ProtocolGRPC)},
	ServiceName: envflag.Spec[string]{Env: "OTEL_SERVICE_NAME",
		Help: "service.name of the spans (default: inferflow-<binary>)"},
}

// url accepts what the exporters accept as an endpoint: a URL with a scheme.
func url(v string) error {
	if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return errors.New("want an http:// or https:// URL")
	}
	return nil
}

// Config says whether and how to export traces.
type Config struct {
	Endpoint       string
	TracesEndpoint string
	Protocol       string
}

// Register adds the tracing variables (environment only) to s.
func (c *Config) Register(s *envflag.Set) {
	envflag.Var(s, &c.Endpoint, Settings.Endpoint)
	envflag.Var(s, &c.TracesEndpoint, Settings.TracesEndpoint)
	envflag.Var(s, &c.Protocol, Settings.Protocol)
	envflag.Doc(s, Settings.ServiceName)
}

// Enabled reports whether an OTLP endpoint is configured.
func (c Config) Enabled() bool { return c.Endpoint != "" || c.TracesEndpoint != "" }

// Tracing is a started tracer provider; the nil *Tracing (tracing off) has
// no interceptors and nothing to shut down.
type Tracing struct {
	tp          *sdktrace.TracerProvider
	interceptor interceptor.ClientInterceptor
}

// Start builds the OTLP exporter and tracer provider, or returns nil when
// tracing is off. service is the default service.name (OTEL_SERVICE_NAME
// overrides it). The caller calls Shutdown to flush the last spans.
func (c Config) Start(ctx context.Context, service string) (*Tracing, error) {
	if !c.Enabled() {
		return nil, nil
	}
	var exp sdktrace.SpanExporter
	var err error
	if c.Protocol == ProtocolGRPC {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return New(sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)))
}

// New wraps tp (a test's, with an in-memory exporter) like Start.
func New(tp *sdktrace.TracerProvider) (*Tracing, error) {
	i, err := Interceptor(tp)
	if err != nil {
		return nil, err
	}
	return &Tracing{tp: tp, interceptor: i}, nil
}

// Interceptor is the SDK's OpenTelemetry tracing interceptor on tp. On a
// client it also traces the workers built from that client.
func Interceptor(tp trace.TracerProvider) (interceptor.ClientInterceptor, error) {
	i, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: tp.Tracer("inferflow")})
	if err != nil {
		return nil, fmt.Errorf("tracing: interceptor: %w", err)
	}
	return i, nil
}

// Interceptors are the client interceptors to dial with: none when off.
func (t *Tracing) Interceptors() []interceptor.ClientInterceptor {
	if t == nil {
		return nil
	}
	return []interceptor.ClientInterceptor{t.interceptor}
}

// Shutdown flushes the spans not yet exported and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// ShutdownWithin is Shutdown waiting at most d: for a binary on its way out.
func (t *Tracing) ShutdownWithin(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return t.Shutdown(ctx)
}
