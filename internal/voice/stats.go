package voice

import (
	"sync/atomic"
	"time"
)

// stats are the session's own counters; the gate keeps its own.
type stats struct {
	framesConcealed   atomic.Uint64
	framesRejected    atomic.Uint64
	turnFrames        atomic.Uint64 // frames admitted, queued or held since the turn started
	modelSendFailures atomic.Uint64
	playoutFailures   atomic.Uint64
	controlDropped    atomic.Uint64
	decision          latency
}

// Stats is the session's counters and its arrival-to-decision latency.
type Stats struct {
	FramesConcealed   uint64  `json:"framesConcealed"`
	FramesRejected    uint64  `json:"framesRejected"`
	ModelSendFailures uint64  `json:"modelSendFailures"`
	PlayoutFailures   uint64  `json:"playoutFailures"`
	ControlDropped    uint64  `json:"controlEventsDropped"`
	Decisions         uint64  `json:"decisions"`
	DecisionP50Ms     float64 `json:"decisionP50Ms"`
	DecisionP99Ms     float64 `json:"decisionP99Ms"`
}

func (s *stats) snapshot() Stats {
	n, p50, p99 := s.decision.quantiles()
	return Stats{
		FramesConcealed:   s.framesConcealed.Load(),
		FramesRejected:    s.framesRejected.Load(),
		ModelSendFailures: s.modelSendFailures.Load(),
		PlayoutFailures:   s.playoutFailures.Load(),
		ControlDropped:    s.controlDropped.Load(),
		Decisions:         n,
		DecisionP50Ms:     p50.Seconds() * 1000,
		DecisionP99Ms:     p99.Seconds() * 1000,
	}
}

// latency is a lock-free histogram with 50 µs buckets up to 20 ms (and one
// overflow bucket): enough to tell whether a gate decision fits the 5 ms
// budget, at the cost of one atomic add per frame.
type latency struct {
	buckets [latencyBuckets + 1]atomic.Uint64
}

const (
	latencyBucket  = 50 * time.Microsecond
	latencyBuckets = 400
)

func (l *latency) observe(d time.Duration) {
	i := int(d / latencyBucket)
	if i < 0 {
		i = 0
	}
	if i > latencyBuckets {
		i = latencyBuckets
	}
	l.buckets[i].Add(1)
}

// quantiles returns the count and the upper bounds of the buckets holding
// the 50th and 99th percentiles.
func (l *latency) quantiles() (n uint64, p50, p99 time.Duration) {
	var counts [latencyBuckets + 1]uint64
	for i := range l.buckets {
		counts[i] = l.buckets[i].Load()
		n += counts[i]
	}
	if n == 0 {
		return 0, 0, 0
	}
	at := func(q float64) time.Duration {
		want := uint64(q*float64(n) + 0.5)
		if want == 0 {
			want = 1
		}
		var sum uint64
		for i, c := range counts {
			sum += c
			if sum >= want {
				return time.Duration(i+1) * latencyBucket
			}
		}
		return time.Duration(latencyBuckets+1) * latencyBucket
	}
	return n, at(0.50), at(0.99)
}
