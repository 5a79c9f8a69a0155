package provider

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
)

// StatisticalJudgeModelID is the ModelID the statistical judge reports.
const StatisticalJudgeModelID = "statistical-judge"

// Outlier rejection: a valuation is an outlier when it lies more than
// outlierK robust standard deviations (1.4826·MAD) from the median. The
// scale never drops below minRelScale of the median, so three nearly equal
// valuations do not turn a 1% difference into an "outlier".
const (
	outlierK    = 3.0
	madToSigma  = 1.4826
	minRelScale = 0.02
	// agreementScale is the relative spread at which agreement falls to 1/e.
	agreementScale = 0.25
)

// StatisticalJudge is a judge without a model: a confidence-weighted median
// of the valuations left after MAD-based outlier rejection, with a
// confidence that rises with agreement and with the inputs' confidences. It
// is deterministic, needs no network and cannot fail on valid input, which
// makes it the offline default and a cheap alternative to a judge model.
type StatisticalJudge struct{}

// Judge implements Judge.
func (StatisticalJudge) Judge(ctx context.Context, req JudgeRequest) (JudgeOutput, error) {
	if err := ctxErr("judge", ctx); err != nil {
		return JudgeOutput{}, err
	}
	if err := ValidateJudgeInput(req.Valuations); err != nil {
		return JudgeOutput{}, err
	}
	return statisticalConsensus(req.Valuations), nil
}

func statisticalConsensus(vs []Valuation) JudgeOutput {
	kept, rejected := rejectOutliers(vs)
	med := WeightedMedian(kept)
	spread := relativeSpread(kept, med)

	// Mean input confidence of the kept valuations, discounted by
	// disagreement and by how many inputs were thrown away; a lone
	// valuation cannot corroborate itself.
	var confSum float64
	for _, v := range kept {
		confSum += v.Confidence
	}
	meanConf := confSum / float64(len(kept))
	agreement := math.Exp(-spread / agreementScale)
	support := 1 - 0.15/float64(len(kept)) // 1 → 0.85, 2 → 0.925, 3 → 0.95
	coverage := 0.5 + 0.5*float64(len(kept))/float64(len(vs))
	conf := clamp01(meanConf * agreement * support * coverage)

	return JudgeOutput{
		Value:      med,
		Confidence: round4(conf),
		Rationale:  rationale(len(vs), rejected, spread, meanConf),
		ModelID:    StatisticalJudgeModelID,
	}
}

func rationale(n, rejected int, spread, meanConf float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d valuation%s", n, plural(n))
	if rejected > 0 {
		fmt.Fprintf(&b, ", %d rejected as outlier%s", rejected, plural(rejected))
	}
	if math.IsInf(spread, 0) {
		b.WriteString(", spread unbounded")
	} else {
		fmt.Fprintf(&b, ", spread %.1f%%", spread*100)
	}
	fmt.Fprintf(&b, ", mean input confidence %.2f; confidence-weighted median", meanConf)
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// rejectOutliers drops valuations far from the median. It needs at least
// three inputs: with two there is no majority to say which one is wrong.
// Because the scale is at least the MAD, at least half are always kept.
func rejectOutliers(vs []Valuation) (kept []Valuation, rejected int) {
	if len(vs) < 3 {
		return vs, 0
	}
	values := make([]float64, len(vs))
	for i, v := range vs {
		values[i] = v.Value
	}
	med := median(values)
	dev := make([]float64, len(vs))
	for i, v := range values {
		dev[i] = math.Abs(v - med)
	}
	scale := math.Max(madToSigma*median(dev), minRelScale*math.Abs(med))
	if scale == 0 { // all equal to a median of 0
		return vs, 0
	}
	kept = make([]Valuation, 0, len(vs))
	for i, v := range vs {
		if dev[i] > outlierK*scale {
			rejected++
			continue
		}
		kept = append(kept, v)
	}
	return kept, rejected
}

// WeightedMedian returns the confidence-weighted median: sort by value and
// take the first value whose cumulative weight reaches half the total; when
// it lands exactly on half, average it with the next value, so equal weights
// give the ordinary median. If every confidence is 0 the weights are equal.
// It returns NaN for an empty slice.
func WeightedMedian(vs []Valuation) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := append([]Valuation(nil), vs...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Value < s[j].Value })
	weight := func(v Valuation) float64 { return v.Confidence }
	var total float64
	for _, v := range s {
		total += v.Confidence
	}
	if total <= 0 {
		weight = func(Valuation) float64 { return 1 }
		total = float64(len(s))
	}
	half := total / 2
	const eps = 1e-12
	var cum float64
	for i, v := range s {
		cum += weight(v)
		if cum >= half-eps*total {
			if math.Abs(cum-half) <= eps*total && i+1 < len(s) {
				return s[i].Value/2 + s[i+1].Value/2 // halves first: no overflow
			}
			return v.Value
		}
	}
	return s[len(s)-1].Value
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1]/2 + s[n/2]/2
}

// relativeSpread is (max-min)/|center|; with a center of 0 any spread is
// unbounded, and no spread at all is 0.
func relativeSpread(vs []Valuation, center float64) float64 {
	lo, hi := vs[0].Value, vs[0].Value
	for _, v := range vs[1:] {
		lo, hi = math.Min(lo, v.Value), math.Max(hi, v.Value)
	}
	width := hi/2 - lo/2 // halves: no overflow for huge finite values
	if width == 0 {
		return 0
	}
	if center == 0 {
		return math.Inf(1)
	}
	return 2 * width / math.Abs(center)
}

func clamp01(x float64) float64 {
	switch {
	case math.IsNaN(x) || x < 0:
		return 0
	case x > 1:
		return 1
	}
	return x
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }
