// Package metricstest gives tests the worker's metrics pipeline (the SDK's
// OpenTelemetry handler, scraped through Prometheus) and reads series back.
package metricstest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.temporal.io/sdk/client"

	"github.com/inferflow/inferflow/internal/metrics"
)

// New returns a registry and an SDK metrics handler that writes into it, as
// the worker builds them (without the environment label).
func New(t testing.TB) (*prometheus.Registry, client.MetricsHandler) {
	t.Helper()
	reg := prometheus.NewRegistry()
	h, err := metrics.NewHandler(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return reg, h
}

// Series is one scraped series: its labels and value (a counter's or
// gauge's value, a histogram's count).
type Series struct {
	Labels map[string]string
	Value  float64
}

// Get returns every series of the scraped family name.
func Get(t testing.TB, reg prometheus.Gatherer, name string) []Series {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []Series
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			out = append(out, Series{Labels: labels(m), Value: value(m)})
		}
	}
	return out
}

// Sum adds the values of name's series that carry every label in match
// (a "" value matches a series without that label).
func Sum(t testing.TB, reg prometheus.Gatherer, name string, match map[string]string) float64 {
	t.Helper()
	var sum float64
	for _, s := range Get(t, reg, name) {
		if matches(s.Labels, match) {
			sum += s.Value
		}
	}
	return sum
}

func matches(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}
