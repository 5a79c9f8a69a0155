package activities

import (
	"context"
	"testing"

	"github.com/inferflow/inferflow/internal/metrics/metricstest"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/wire"
)

// A failed vision or judge attempt is counted with the labels CONTRACT.md
// lists: the slot, the requested model, the error code and the attempt.
func TestFailureMetricLabels(t *testing.T) {
	img := wire.Image{MediaType: "image/png"}
	tests := []struct {
		name   string
		err    error
		judge  bool
		metric string
		want   map[string]string
		// timeout: the vision call's timeout counter for the slot too.
		timeout bool
	}{
		{name: "vision client error", err: &provider.Error{Code: provider.CodeClientError, StatusCode: 400},
			metric: "consensus_vision_call_failure_total",
			want:   map[string]string{"callIndex": "2", "modelId": "default", "errorCode": "CLIENT_ERROR", "attempt": "0", "activity_type": "VisionCall"}},
		{name: "vision timeout", err: context.DeadlineExceeded, timeout: true,
			metric: "consensus_vision_call_failure_total",
			want:   map[string]string{"callIndex": "2", "modelId": "default", "errorCode": "TIMEOUT", "attempt": "0"}},
		{name: "judge server error", judge: true, err: &provider.Error{Code: provider.CodeServerError, StatusCode: 503},
			metric: "consensus_judge_failure_total",
			want:   map[string]string{"modelId": "unknown", "errorCode": "SERVER_ERROR", "attempt": "0", "activity_type": "JudgeCall"}},
		{name: "judge invalid output", judge: true, err: nil,
			metric: "consensus_judge_failure_total",
			want:   map[string]string{"modelId": "unknown", "errorCode": "INVALID_OUTPUT", "attempt": "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, h := metricstest.New(t)
			env := activityEnv(h)
			// The judge's zero output (no rationale, no model) is invalid.
			m := &scriptedModel{err: tt.err}
			env.RegisterActivity(&Consensus{Vision: m, Judge: m})
			var err error
			if tt.judge {
				_, err = env.ExecuteActivity((&Consensus{}).JudgeCall, wire.JudgeInput{ItemID: "i",
					Valuations: []wire.Valuation{{Value: 1, Confidence: 0.5}}})
			} else {
				im := img
				im.Data = pngBytes(t)
				_, err = env.ExecuteActivity((&Consensus{}).VisionCall, wire.VisionInput{ItemID: "i", CallIndex: 2, Image: im})
			}
			if err == nil {
				t.Fatal("want the attempt to fail")
			}
			if got := metricstest.Sum(t, reg, tt.metric, tt.want); got != 1 {
				t.Errorf("%s%v = %v, want 1; series %+v", tt.metric, tt.want, got, metricstest.Get(t, reg, tt.metric))
			}
			timeouts := metricstest.Sum(t, reg, "consensus_vision_call_timeout_total", map[string]string{"callIndex": "2"})
			if want := map[bool]float64{true: 1}[tt.timeout]; timeouts != want {
				t.Errorf("consensus_vision_call_timeout_total = %v, want %v", timeouts, want)
			}
			for _, name := range []string{"consensus_vision_call_success_total", "consensus_judge_success_total",
				"consensus_vision_call_duration_seconds", "consensus_judge_duration_seconds"} {
				if n := len(metricstest.Get(t, reg, name)); n != 0 {
					t.Errorf("%s: %d series on a failure, want none", name, n)
				}
			}
		})
	}
}
