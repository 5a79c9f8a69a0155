package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNames(t *testing.T) {
	tests := []struct{ in, counter, timer string }{
		{"consensus.vision_call.success", "consensus_vision_call_success_total", "consensus_vision_call_success_seconds"},
		{"consensus.vision_call.duration_ms", "consensus_vision_call_duration_ms_total", "consensus_vision_call_duration_seconds"},
		{"temporal_request", "temporal_request_total", "temporal_request_seconds"},
		{"already_total", "already_total", "already_total_seconds"},
	}
	for _, tt := range tests {
		if got := CounterName(tt.in); got != tt.counter {
			t.Errorf("CounterName(%q) = %q, want %q", tt.in, got, tt.counter)
		}
		if got := TimerName(tt.in); got != tt.timer {
			t.Errorf("TimerName(%q) = %q, want %q", tt.in, got, tt.timer)
		}
	}
}

func TestHandlerWritesPrometheus(t *testing.T) {
	reg := NewRegistry()
	h := NewHandler(reg).WithTags(map[string]string{"environment": "test"})
	h.WithTags(map[string]string{"callIndex": "0"}).Counter("consensus.vision_call.success").Inc(2)
	// A different label set for the same name must not break the scrape.
	h.WithTags(map[string]string{"callIndex": "1", "surprise": "x"}).Counter("consensus.vision_call.success").Inc(1)
	h.Counter("consensus.vision_call.success").Inc(1)
	h.Timer("consensus.pipeline.duration_ms").Record(1500 * time.Millisecond)
	h.Gauge("temporal.worker.slots").Update(3)

	if n, err := testutil.GatherAndCount(reg, "consensus_vision_call_success_total"); err != nil || n != 3 {
		t.Fatalf("series = %d, err = %v", n, err)
	}
	want := `
# HELP consensus_vision_call_success_total inferflow metric consensus_vision_call_success_total
# TYPE consensus_vision_call_success_total counter
consensus_vision_call_success_total{callIndex="",environment="test"} 1
consensus_vision_call_success_total{callIndex="0",environment="test"} 2
consensus_vision_call_success_total{callIndex="1",environment="test"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "consensus_vision_call_success_total"); err != nil {
		t.Fatal(err)
	}

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
	for _, s := range []string{"consensus_pipeline_duration_seconds_bucket", "temporal_worker_slots", "go_goroutines"} {
		if !strings.Contains(string(body), s) {
			t.Errorf("/metrics lacks %s", s)
		}
	}
}

func TestServeRejectsBadAddress(t *testing.T) {
	_, _, err := Serve(context.Background(), "not-an-address", NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "metrics address") {
		t.Fatalf("err = %v", err)
	}
}
