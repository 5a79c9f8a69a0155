package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.temporal.io/sdk/client"
)

func newHandler(t *testing.T) (*prometheus.Registry, client.MetricsHandler) {
	t.Helper()
	reg := NewRegistry()
	h, err := NewHandler(reg, map[string]string{"environment": "test"})
	if err != nil {
		t.Fatal(err)
	}
	return reg, h
}

// The scraped names are the ones the README lists: dots as underscores,
// counters with _total, timers as histograms in seconds.
func TestNames(t *testing.T) {
	tests := []struct {
		emit func(client.MetricsHandler)
		want string
	}{
		{func(h client.MetricsHandler) { h.Counter("consensus.vision_call.success").Inc(1) }, "consensus_vision_call_success_total"},
		{func(h client.MetricsHandler) { h.Timer("consensus.vision_call.duration_ms").Record(time.Second) }, "consensus_vision_call_duration_seconds"},
		{func(h client.MetricsHandler) { h.Counter("temporal_request").Inc(1) }, "temporal_request_total"},
		{func(h client.MetricsHandler) { h.Timer("temporal_request_latency").Record(time.Second) }, "temporal_request_latency_seconds"},
		{func(h client.MetricsHandler) { h.Counter("already_total").Inc(1) }, "already_total"},
		{func(h client.MetricsHandler) { h.Timer("already_seconds").Record(time.Second) }, "already_seconds"},
		{func(h client.MetricsHandler) { h.Gauge("temporal.worker.slots").Update(3) }, "temporal_worker_slots"},
		{func(h client.MetricsHandler) { h.Counter("job_state.transition-failure").Inc(1) }, "job_state_transition_failure_total"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			reg, h := newHandler(t)
			tt.emit(h)
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range families {
				if n := f.GetName(); !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") {
					names = append(names, n)
				}
			}
			if len(names) != 1 || names[0] != tt.want {
				t.Fatalf("families %v, want [%s]", names, tt.want)
			}
		})
	}
}

// A metric's label set is each series' own: a failure's errorCode is kept
// after a success without it (issue 12: model_call_duration lost errorCode),
// and no label is added or dropped.
func TestLabelSetsArePerSeries(t *testing.T) {
	reg, h := newHandler(t)
	m := h.WithTags(map[string]string{"modelId": "m", "billingPolicy": "strict"})
	m.Timer("model.call.duration_ms").Record(1500 * time.Millisecond)
	m.Counter("model.call.success").Inc(1)
	f := m.WithTags(map[string]string{"errorCode": "TIMEOUT"})
	f.Timer("model.call.duration_ms").Record(2 * time.Second)
	f.Counter("model.call.failure").Inc(2)
	h.WithTags(map[string]string{"callIndex": "1", "surprise": "x"}).Counter("model.call.failure").Inc(1)

	want := `
# HELP model_call_failure_total 
# TYPE model_call_failure_total counter
model_call_failure_total{billingPolicy="strict",environment="test",errorCode="TIMEOUT",modelId="m"} 2
model_call_failure_total{callIndex="1",environment="test",surprise="x"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "model_call_failure_total"); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var withCode, without int
	for _, f := range families {
		if f.GetName() != "model_call_duration_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch labels["errorCode"] {
			case "TIMEOUT":
				withCode++
				if s.GetHistogram().GetSampleSum() != 2 {
					t.Errorf("failure duration sum = %v, want 2 (seconds)", s.GetHistogram().GetSampleSum())
				}
			case "":
				without++
			}
		}
	}
	if withCode != 1 || without != 1 {
		t.Fatalf("model_call_duration_seconds: %d series with errorCode, %d without; want 1 and 1", withCode, without)
	}
}

func TestServe(t *testing.T) {
	reg, h := newHandler(t)
	h.Timer("consensus.pipeline.duration_ms").Record(1500 * time.Millisecond)
	h.Gauge("temporal.worker.slots").Update(3)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _, err := Serve(ctx, "127.0.0.1:0", reg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, s := range []string{
		`consensus_pipeline_duration_seconds_bucket{environment="test",le="1"} 0`,
		`consensus_pipeline_duration_seconds_bucket{environment="test",le="2.5"} 1`,
		`consensus_pipeline_duration_seconds_bucket{environment="test",le="120"} 1`,
		"temporal_worker_slots", "go_goroutines",
	} {
		if !strings.Contains(string(body), s) {
			t.Errorf("/metrics lacks %s", s)
		}
	}
	for _, s := range []string{"otel_scope", "target_info"} {
		if strings.Contains(string(body), s) {
			t.Errorf("/metrics has %s", s)
		}
	}
}

func TestServeRejectsBadAddress(t *testing.T) {
	_, _, err := Serve(context.Background(), "not-an-address", NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "metrics address") {
		t.Fatalf("err = %v", err)
	}
}
