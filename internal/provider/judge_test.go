package provider

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

func vals(pairs ...float64) []Valuation {
	out := make([]Valuation, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, Valuation{Value: pairs[i], Confidence: pairs[i+1]})
	}
	return out
}

func TestWeightedMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []Valuation
		want float64
	}{
		{"single", vals(42, 0.5), 42},
		{"odd equal weights is the median", vals(3, 0.5, 1, 0.5, 2, 0.5), 2},
		{"even equal weights averages the middle two", vals(1, 0.5, 2, 0.5, 3, 0.5, 4, 0.5), 2.5},
		{"two equal weights average", vals(100, 0.8, 200, 0.8), 150},
		{"heavier weight wins", vals(100, 0.9, 200, 0.1), 100},
		{"heavier weight wins, other order", vals(200, 0.1, 100, 0.9), 100},
		{"high-confidence value pulls the median", vals(10, 0.1, 20, 0.1, 30, 0.9), 30},
		{"majority of weight in the middle", vals(10, 0.3, 20, 0.5, 30, 0.3), 20},
		{"all zero confidence falls back to equal weights", vals(5, 0, 1, 0, 3, 0), 3},
		{"zero-weight entries are ignored", vals(1, 0, 2, 1, 100, 0), 2},
		{"huge values do not overflow", vals(math.MaxFloat64, 0.5, math.MaxFloat64, 0.5), math.MaxFloat64},
		{"negative values", vals(-10, 0.5, -20, 0.5, -30, 0.5), -20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WeightedMedian(tt.in); got != tt.want {
				t.Errorf("WeightedMedian(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
	if !math.IsNaN(WeightedMedian(nil)) {
		t.Error("empty input should give NaN")
	}
}

func TestStatisticalJudge(t *testing.T) {
	j := StatisticalJudge{}
	ctx := context.Background()
	tests := []struct {
		name         string
		in           []Valuation
		wantValue    float64
		wantRejected int
	}{
		{"agreeing three", vals(1000, 0.8, 1010, 0.8, 990, 0.8), 1000, 0},
		{"one wild outlier rejected", vals(1000, 0.8, 1020, 0.8, 50000, 0.95), 1010, 1},
		{"low outlier rejected", vals(1000, 0.7, 980, 0.7, 1, 0.9), 990, 1},
		{"two valuations never reject", vals(100, 0.5, 10000, 0.5), 5050, 0},
		{"single valuation", vals(123.45, 0.6), 123.45, 0},
		{"small disagreement is not an outlier", vals(1000, 0.8, 1010, 0.8, 1040, 0.8), 1010, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := j.Judge(ctx, JudgeRequest{Valuations: tt.in})
			if err != nil {
				t.Fatal(err)
			}
			if err := ValidateJudge(out); err != nil {
				t.Fatalf("invalid output %+v: %v", out, err)
			}
			if out.Value != tt.wantValue {
				t.Errorf("value = %v, want %v", out.Value, tt.wantValue)
			}
			if out.ModelID != StatisticalJudgeModelID {
				t.Errorf("model = %q", out.ModelID)
			}
			if !strings.HasPrefix(out.Rationale, strings.Split(rationale(len(tt.in), 0, 0, 0), ",")[0]) {
				t.Errorf("rationale %q does not start with the count", out.Rationale)
			}
			hasRejected := strings.Contains(out.Rationale, "rejected as outlier")
			if hasRejected != (tt.wantRejected > 0) {
				t.Errorf("rationale %q, want %d rejected", out.Rationale, tt.wantRejected)
			}
		})
	}
}

func TestStatisticalJudgeConfidence(t *testing.T) {
	j := StatisticalJudge{}
	conf := func(vs []Valuation) float64 {
		t.Helper()
		out, err := j.Judge(context.Background(), JudgeRequest{Valuations: vs})
		if err != nil {
			t.Fatal(err)
		}
		return out.Confidence
	}
	tight := conf(vals(1000, 0.8, 1005, 0.8, 995, 0.8))
	loose := conf(vals(1000, 0.8, 1300, 0.8, 800, 0.8))
	if !(tight > loose) {
		t.Errorf("agreement should raise confidence: tight %v, loose %v", tight, loose)
	}
	sure := conf(vals(1000, 0.95, 1005, 0.95, 995, 0.95))
	unsure := conf(vals(1000, 0.4, 1005, 0.4, 995, 0.4))
	if !(sure > unsure) {
		t.Errorf("input confidence should raise confidence: %v vs %v", sure, unsure)
	}
	withOutlier := conf(vals(1000, 0.8, 1005, 0.8, 90000, 0.8))
	if !(withOutlier < tight) {
		t.Errorf("a rejected outlier should cost confidence: %v vs %v", withOutlier, tight)
	}
	if c := conf(vals(-5, 0.9, 5, 0.9)); c != 0 {
		t.Errorf("values straddling a zero median have unbounded spread, confidence %v, want 0", c)
	}
}

func TestStatisticalJudgeInvalidInput(t *testing.T) {
	tests := []struct {
		name  string
		in    []Valuation
		field string
	}{
		{"empty", nil, "valuations"},
		{"NaN value", vals(math.NaN(), 0.5), "valuations[0].value"},
		{"Inf value", vals(1, 0.5, math.Inf(-1), 0.5), "valuations[1].value"},
		{"confidence above 1", vals(1, 1.01), "valuations[0].confidence"},
		{"negative confidence", vals(1, 0.5, 2, -0.1), "valuations[1].confidence"},
		{"NaN confidence", vals(1, math.NaN()), "valuations[0].confidence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := StatisticalJudge{}.Judge(context.Background(), JudgeRequest{Valuations: tt.in})
			var ie *InvalidInputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *InvalidInputError", err)
			}
			if ie.Field != tt.field {
				t.Errorf("field = %q, want %q", ie.Field, tt.field)
			}
			if CodeOf(err) != CodeInvalidInput || CodeOf(err).Transient() {
				t.Errorf("code = %v, want non-transient INVALID_INPUT", CodeOf(err))
			}
		})
	}
}
