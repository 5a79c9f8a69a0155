// Package metrics exposes the worker's Prometheus /metrics endpoint and a
// Temporal SDK metrics handler that writes into it. Both the SDK's own metrics
// and inferflow's (CONTRACT.md#metrics; emitted through
// workflow.GetMetricsHandler and activity.GetMetricsHandler, so they are
// replay-safe) end up in one registry.
//
// Naming follows Prometheus conventions: dots become underscores, counters
// get "_total", timers become histograms in seconds ("_duration_ms" becomes
// "_duration_seconds", other timers get "_seconds").
package metrics

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// Buckets for timings, in seconds: from a fast activity to a slow model call.
var Buckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// Handler implements client.MetricsHandler on a Prometheus registry.
type Handler struct {
	fam  *families
	tags map[string]string
}

var _ client.MetricsHandler = (*Handler)(nil)

// NewHandler returns an SDK metrics handler that registers into reg.
func NewHandler(reg prometheus.Registerer) *Handler {
	return &Handler{fam: &families{reg: reg, vecs: map[string]*family{}}, tags: map[string]string{}}
}

// WithTags returns a handler whose metrics carry tags in addition to h's.
func (h *Handler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(h.tags)
	maps.Copy(merged, tags)
	return &Handler{fam: h.fam, tags: merged}
}

// Counter returns the counter name with h's tags.
func (h *Handler) Counter(name string) client.MetricsCounter {
	c := h.fam.get(CounterName(name), kindCounter, h.tags)
	return counter{c.(prometheus.Counter)}
}

// Gauge returns the gauge name with h's tags.
func (h *Handler) Gauge(name string) client.MetricsGauge {
	g := h.fam.get(BaseName(name), kindGauge, h.tags)
	return gauge{g.(prometheus.Gauge)}
}

// Timer returns a seconds histogram for name with h's tags.
func (h *Handler) Timer(name string) client.MetricsTimer {
	o := h.fam.get(TimerName(name), kindHistogram, h.tags)
	return timer{o.(prometheus.Observer)}
}

type counter struct{ c prometheus.Counter }

// Inc ignores negative deltas, which Prometheus counters would panic on.
func (c counter) Inc(d int64) {
	if d > 0 {
		c.c.Add(float64(d))
	}
}

type gauge struct{ g prometheus.Gauge }

func (g gauge) Update(v float64) { g.g.Set(v) }

type timer struct{ o prometheus.Observer }

func (t timer) Record(d time.Duration) { t.o.Observe(d.Seconds()) }

// BaseName turns a dotted metric name (CONTRACT.md#metrics) into a Prometheus
// name.
func BaseName(name string) string {
	return strings.NewReplacer(".", "_", "-", "_").Replace(name)
}

// CounterName is BaseName plus the "_total" suffix counters carry.
func CounterName(name string) string {
	n := BaseName(name)
	if strings.HasSuffix(n, "_total") {
		return n
	}
	return n + "_total"
}

// TimerName is the seconds-histogram name for a timer.
func TimerName(name string) string {
	n := BaseName(name)
	n = strings.TrimSuffix(n, "_ms")
	if strings.HasSuffix(n, "_seconds") {
		return n
	}
	return n + "_seconds"
}

type kind int

const (
	kindCounter kind = iota
	kindGauge
	kindHistogram
)

// family is one metric name. Prometheus needs one fixed label set per name;
// the first use fixes it. Later series fill missing labels with "" and drop
// unknown ones, which is better than failing a scrape.
type family struct {
	labels []string
	vec    any // *prometheus.CounterVec | *GaugeVec | *HistogramVec
}

type families struct {
	reg  prometheus.Registerer
	mu   sync.Mutex
	vecs map[string]*family
}

func (f *families) get(name string, k kind, tags map[string]string) any {
	f.mu.Lock()
	fam, ok := f.vecs[name]
	if !ok {
		fam = &family{labels: slices.Sorted(maps.Keys(tags))}
		fam.vec = newVec(name, k, fam.labels)
		if err := f.reg.Register(fam.vec.(prometheus.Collector)); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				fam.vec = are.ExistingCollector
			}
		}
		f.vecs[name] = fam
	}
	f.mu.Unlock()

	values := make([]string, len(fam.labels))
	for i, l := range fam.labels {
		values[i] = tags[l]
	}
	switch v := fam.vec.(type) {
	case *prometheus.CounterVec:
		return v.WithLabelValues(values...)
	case *prometheus.GaugeVec:
		return v.WithLabelValues(values...)
	case *prometheus.HistogramVec:
		return v.WithLabelValues(values...)
	}
	// A name registered elsewhere as another kind: keep the caller working.
	switch k {
	case kindCounter:
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name})
	case kindGauge:
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name})
	default:
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name})
	}
}

func newVec(name string, k kind, labels []string) any {
	help := "inferflow metric " + name
	switch k {
	case kindCounter:
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	case kindGauge:
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	default:
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: Buckets}, labels)
	}
}
