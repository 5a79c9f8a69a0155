package main

import (
	"math"
	"slices"
)

// quantile returns the q-quantile (0..1) of xs by the nearest-rank method;
// 0 for no values. xs is not modified.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	q = math.Min(math.Max(q, 0), 1)
	rank := int(math.Ceil(q * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	return s[rank-1]
}

// sessionLatency is one call's arrival-to-decision figures as its view
// reports them: the session keeps a histogram but shows only its
// quantiles, so the run's figures are the distribution of those.
type sessionLatency struct {
	decisions uint64
	p50, p99  float64 // ms
}

// latencySummary condenses the sessions' quantiles.
type latencySummary struct {
	Sessions  int
	Decisions uint64
	// P50 is the median of the sessions' p50s, P50Max the worst.
	P50, P50Max float64
	// P99 is the 99th percentile of the sessions' p99s (so at most 1 % of
	// sessions had a worse p99), P99Max the worst.
	P99, P99Max float64
	// Over is how many sessions had a p99 above the budget.
	Over int
}

func summarize(ls []sessionLatency, budgetMs float64) latencySummary {
	var s latencySummary
	var p50s, p99s []float64
	for _, l := range ls {
		if l.decisions == 0 {
			continue
		}
		s.Sessions++
		s.Decisions += l.decisions
		p50s, p99s = append(p50s, l.p50), append(p99s, l.p99)
		if l.p99 > budgetMs {
			s.Over++
		}
	}
	s.P50, s.P50Max = quantile(p50s, 0.5), quantile(p50s, 1)
	s.P99, s.P99Max = quantile(p99s, 0.99), quantile(p99s, 1)
	return s
}
