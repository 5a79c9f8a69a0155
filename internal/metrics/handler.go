// Package metrics exposes the worker's Prometheus /metrics endpoint and the
// Temporal SDK metrics handler that writes into it. Both the SDK's own
// metrics and inferflow's (CONTRACT.md#metrics; emitted through
// workflow.GetMetricsHandler and activity.GetMetricsHandler, so they are
// replay-safe) end up in one registry.
//
// The handler is the SDK's OpenTelemetry one (go.temporal.io/sdk/contrib/
// opentelemetry) on an OpenTelemetry meter provider that the OpenTelemetry
// Prometheus exporter reads at scrape time. OpenTelemetry keeps each series'
// own attribute set, so a metric's labels are never fixed by its first use.
//
// Naming follows Prometheus conventions, done by the exporter: dots become
// underscores, counters get "_total", timers are histograms in seconds
// ("_duration_ms" becomes "_duration_seconds", other timers get "_seconds").
package metrics

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Buckets for timings, in seconds: from a fast activity to a slow model call.
var Buckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// NewHandler returns an SDK metrics handler whose series are served by reg,
// each carrying tags (e.g. the environment). The meter provider behind it
// needs no shutdown: the exporter is read at scrape time.
func NewHandler(reg prometheus.Registerer, tags map[string]string) (client.MetricsHandler, error) {
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		// The names and labels the README lists: no otel_scope_* labels, no
		// target_info series.
		otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("metrics: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithView(timerView))
	attrs := make([]attribute.KeyValue, 0, len(tags))
	for k, v := range tags {
		attrs = append(attrs, attribute.String(k, v))
	}
	return temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:             mp.Meter("inferflow"),
		InitialAttributes: attribute.NewSet(attrs...),
		// A metric the meter refuses is reported, never a panic in a worker.
		OnError: otel.Handle,
		// Counters are Prometheus counters (_total), not up-down gauges.
		UseMonotonicCounters: true,
	}), nil
}

// timerView gives the SDK's timers (histograms in seconds) the seconds
// buckets, and drops a "_ms" suffix from their names: the value is in
// seconds, and the exporter appends "_seconds" for the unit.
func timerView(inst sdkmetric.Instrument) (sdkmetric.Stream, bool) {
	if inst.Kind != sdkmetric.InstrumentKindHistogram {
		return sdkmetric.Stream{}, false
	}
	name := inst.Name
	if inst.Unit == "s" {
		name = strings.TrimSuffix(name, "_ms")
	}
	return sdkmetric.Stream{
		Name:        name,
		Description: inst.Description,
		Unit:        inst.Unit,
		Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: Buckets},
	}, true
}
