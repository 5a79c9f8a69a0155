package integration

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/inferflow/inferflow/internal/logging"
	"github.com/inferflow/inferflow/internal/metrics"
	"github.com/inferflow/inferflow/internal/metrics/metricstest"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/internal/temporalclient"
	"github.com/inferflow/inferflow/internal/tracing"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/wire"
)

// One consensus run over the HTTP provider, with the worker and the starter
// dialled as the binaries dial (temporalclient with the tracing interceptor
// and the metrics handler): its spans form one trace, starter → workflow →
// activity → the provider's HTTP request, and /metrics serves the README's
// names for it.
func TestTracingAndMetricsEndToEnd(t *testing.T) {
	skipShort(t)
	ctx := ctxFor(t, 2*time.Minute)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr, err := tracing.New(tp)
	if err != nil {
		t.Fatal(err)
	}
	queue := uniqueQueue(t)
	cfg := temporalclient.Config{Address: server.Address, Namespace: server.Namespace, TaskQueue: queue, DialTimeout: 10 * time.Second}
	z := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))

	reg := metrics.NewRegistry()
	mh, err := metrics.NewHandler(reg, map[string]string{"environment": "integration"})
	if err != nil {
		t.Fatal(err)
	}
	workerClient, err := cfg.Dial(ctx, logging.NewSDK(z), mh, tr.Interceptors()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(workerClient.Close)
	fake := openaitest.New()
	t.Cleanup(fake.Close)
	fake.ForVision().SetDefault(openaitest.OK(120, 0.9))
	fake.ForJudge().SetDefault(openaitest.Judged(121, 0.95, "three close valuations"))
	models, err := provider.New(fake.Config())
	if err != nil {
		t.Fatal(err)
	}
	blobs := blob.Dir{Root: t.TempDir()}
	startWorker(t, workerClient, queue, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Models: models, Blobs: blobs})
	})

	starterClient, err := cfg.Dial(ctx, logging.NewSDK(z), client.MetricsNopHandler, tr.Interceptors()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(starterClient.Close)
	c := &inferflow.Client{Temporal: starterClient, TaskQueue: queue, Blobs: blobs}
	run, err := c.StartConsensus(ctx, inferflow.ConsensusRequest{ItemID: "traced-item", Image: itemImage(t)})
	if err != nil {
		t.Fatal(err)
	}
	var res wire.ConsensusResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}

	checkTrace(t, spans)
	checkScrape(t, reg)
}

func checkTrace(t *testing.T, spans *tracetest.SpanRecorder) {
	t.Helper()
	var ended []sdktrace.ReadOnlySpan
	// The workflow's span ends as its last task completes, which may be
	// just after the result is delivered.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ended = spans.Ended()
		if find(ended, "RunWorkflow:ConsensusEvaluation", trace.SpanID{}) != nil || time.Now().After(deadline) {
			break
		}
	}
	names := make([]string, len(ended))
	for i, s := range ended {
		names[i] = s.Name()
	}
	start := find(ended, "StartWorkflow:ConsensusEvaluation", trace.SpanID{})
	if start == nil {
		t.Fatalf("no starter span; spans %v", names)
	}
	chain := []string{"RunWorkflow:ConsensusEvaluation", "StartActivity:VisionCall", "RunActivity:VisionCall"}
	parent := start
	for _, name := range chain {
		s := find(ended, name, parent.SpanContext().SpanID())
		if s == nil {
			t.Fatalf("no %s under %s; spans %v", name, parent.Name(), names)
		}
		if s.SpanContext().TraceID() != start.SpanContext().TraceID() {
			t.Fatalf("%s is in another trace", name)
		}
		parent = s
	}
	var httpSpan sdktrace.ReadOnlySpan
	for _, s := range ended {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() && s.SpanKind() == trace.SpanKindClient {
			httpSpan = s
		}
	}
	if httpSpan == nil {
		t.Fatalf("no HTTP client span under RunActivity:VisionCall; spans %v", names)
	}
	var method string
	for _, kv := range httpSpan.Attributes() {
		if kv.Key == "http.request.method" {
			method = kv.Value.AsString()
		}
	}
	if method != http.MethodPost {
		t.Fatalf("HTTP span %q has method %q, attributes %v", httpSpan.Name(), method, httpSpan.Attributes())
	}
}

// find returns the ended span called name whose parent is parent (any
// parent when parent is zero).
func find(spans []sdktrace.ReadOnlySpan, name string, parent trace.SpanID) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if s.Name() == name && (!parent.IsValid() || s.Parent().SpanID() == parent) {
			return s
		}
	}
	return nil
}

// checkScrape reads /metrics as Prometheus does: the README's names, from
// the activities, the workflow and the SDK, each with the environment.
func checkScrape(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _, err := metrics.Serve(ctx, "127.0.0.1:0", reg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"consensus_vision_call_success_total", "consensus_vision_call_duration_seconds", "consensus_judge_success_total",
		"consensus_judge_duration_seconds", "consensus_pipeline_success_total", "consensus_pipeline_duration_seconds",
		"temporal_request_total", "temporal_workflow_task_execution_latency_seconds", "temporal_activity_execution_latency_seconds",
	} {
		if !strings.Contains(string(body), "\n# TYPE "+name+" ") {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	env := map[string]string{"environment": "integration"}
	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"consensus_vision_call_success_total", map[string]string{"activity_type": "VisionCall", "callIndex": "0", "modelId": openaitest.DefaultVisionModel}, 1},
		{"consensus_vision_call_duration_seconds", map[string]string{"activity_type": "VisionCall"}, 3},
		{"consensus_judge_success_total", map[string]string{"activity_type": "JudgeCall", "modelId": openaitest.DefaultJudgeModel}, 1},
		{"consensus_pipeline_success_total", map[string]string{"degraded": "false", "workflow_type": "ConsensusEvaluation"}, 1},
		{"consensus_pipeline_duration_seconds", map[string]string{"workflow_type": "ConsensusEvaluation"}, 1},
	} {
		for k, v := range env {
			m.labels[k] = v
		}
		if got := metricstest.Sum(t, reg, m.name, m.labels); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
	if strings.Contains(string(body), "otel_scope") {
		t.Error("/metrics has otel_scope labels")
	}
}
