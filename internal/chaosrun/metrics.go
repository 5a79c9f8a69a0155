package chaosrun

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricsReading is what the run reads off the realtime process's /metrics.
type metricsReading struct {
	goroutines int // go_goroutines
	liveGates  int // inferflow_speech_gate_live_gates: calls holding a gate
}

const (
	goroutinesMetric = "go_goroutines"
	liveGatesMetric  = "inferflow_speech_gate_live_gates"
)

var metricsClient = &http.Client{Timeout: 2 * time.Second}

func readMetrics(ctx context.Context, url string) (metricsReading, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return metricsReading{}, err
	}
	resp, err := metricsClient.Do(req)
	if err != nil {
		return metricsReading{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return metricsReading{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return metricsReading{}, fmt.Errorf("GET %s: %w", url, err)
	}
	var m metricsReading
	for name, dst := range map[string]*int{goroutinesMetric: &m.goroutines, liveGatesMetric: &m.liveGates} {
		f := fams[name]
		if f == nil || len(f.GetMetric()) != 1 {
			return metricsReading{}, fmt.Errorf("GET %s: no single %s series", url, name)
		}
		*dst = int(f.GetMetric()[0].GetGauge().GetValue())
	}
	return m, nil
}

// idleReading reads url for window, every 200 ms, and returns the median
// reading (goroutines come and go by a few in an idle process).
func idleReading(ctx context.Context, url string, window time.Duration) (metricsReading, error) {
	var rs []metricsReading
	for end := time.Now().Add(window); ; {
		m, err := readMetrics(ctx, url)
		if err != nil {
			return m, err
		}
		rs = append(rs, m)
		if time.Now().After(end) {
			break
		}
		if _ = sleep(ctx, 200*time.Millisecond); ctx.Err() != nil {
			return m, ctx.Err()
		}
	}
	slices.SortFunc(rs, func(a, b metricsReading) int { return a.goroutines - b.goroutines })
	return rs[len(rs)/2], nil
}

// awaitReading reads url every 200 ms until ok holds or deadline passes,
// and returns the last reading.
func awaitReading(ctx context.Context, url string, ok func(metricsReading) bool, deadline time.Time) (metricsReading, error) {
	for {
		m, err := readMetrics(ctx, url)
		if err != nil || ok(m) || time.Now().After(deadline) {
			return m, err
		}
		if _ = sleep(ctx, 200*time.Millisecond); ctx.Err() != nil {
			return m, ctx.Err()
		}
	}
}
