package providerplan

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
)

func calls(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("item-%d_v%d_a%d", i/6, i%3, i%2)
	}
	return ids
}

func decideAll(p *Plan, ids []string) []Decision {
	out := make([]Decision, len(ids))
	for i, id := range ids {
		out[i] = p.Decide(openaitest.KindVision, id, 0)
	}
	return out
}

func TestSameSeedSamePlan(t *testing.T) {
	ids := calls(500)
	a, b := decideAll(New(42, Rates{}), ids), decideAll(New(42, Rates{}), ids)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave two plans")
	}
	// In reverse order too: a decision does not depend on arrival order.
	p := New(42, Rates{})
	for i := len(ids) - 1; i >= 0; i-- {
		if d := p.Decide(openaitest.KindVision, ids[i], 0); d != a[i] {
			t.Fatalf("call %s: %+v then %+v", ids[i], a[i], d)
		}
	}
	if c := decideAll(New(43, Rates{}), ids); reflect.DeepEqual(a, c) {
		t.Fatal("seeds 42 and 43 gave the same plan")
	}
}

func TestRates(t *testing.T) {
	cases := []struct {
		name  string
		rates Rates
		want  map[Fault]float64 // expected share (±0.03)
	}{
		{"default", Rates{}, map[Fault]float64{RateLimited: 0.08, ServerError: 0.08, Hang: 0.04, Malformed: 0.06, Reset: 0.06, None: 0.68}},
		{"only resets", Rates{Reset: 1}, map[Fault]float64{Reset: 1}},
		{"half 5xx", Rates{ServerError: 0.5}, map[Fault]float64{ServerError: 0.5, None: 0.5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const n = 4000
			got := map[Fault]int{}
			for _, d := range decideAll(New(7, tc.rates), calls(n)) {
				got[d.Fault]++
				switch d.Fault {
				case RateLimited:
					if d.Status != 429 || d.RetryAfter < 1 || d.RetryAfter > 2 {
						t.Fatalf("429 decision %+v", d)
					}
				case ServerError:
					if d.Status < 500 {
						t.Fatalf("5xx decision %+v", d)
					}
				case None:
					if d.Value < 100 || d.Confidence < 0.5 || d.Confidence > 1 || d.Latency >= 150*time.Millisecond {
						t.Fatalf("success decision %+v", d)
					}
				}
			}
			for f, share := range tc.want {
				if s := float64(got[f]) / n; s < share-0.03 || s > share+0.03 {
					t.Errorf("%s: share %.3f, want %.2f", f, s, share)
				}
			}
		})
	}
}

// Through the fake server: the responder answers as decided, and a repeated
// request id (a completion retried under its job id) is its next occurrence.
func TestResponderThroughTheServer(t *testing.T) {
	srv := openaitest.New()
	defer srv.Close()
	plan := New(1, Rates{})
	srv.SetResponder(plan.Responder())
	cfg := srv.Config()
	cfg.HTTPTimeout = 500 * time.Millisecond
	set, err := provider.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 60 {
		id := fmt.Sprintf("job-%d", i/2) // each id twice
		_, err := set.Completer.Complete(ctx, provider.CompletionRequest{Prompt: "hi", RequestID: id})
		d := plan.Decide(openaitest.KindCompletion, id, i%2)
		var perr *provider.Error
		switch {
		case d.Fault == None && err != nil:
			t.Fatalf("%s #%d planned ok, got %v", id, i%2, err)
		case d.Fault != None && err == nil:
			t.Fatalf("%s #%d planned %s, got success", id, i%2, d.Fault)
		case d.Fault == RateLimited && (!errors.As(err, &perr) || perr.RetryAfter != time.Duration(d.RetryAfter)*time.Second):
			t.Fatalf("%s: 429 with Retry-After %d, got %v", id, d.RetryAfter, err)
		}
	}
	got := plan.Decisions()
	if len(got) != 60 || got[1].Occurrence != 1 || got[0].Occurrence != 0 {
		t.Fatalf("recorded %d decisions, first occurrences %d, %d", len(got), got[0].Occurrence, got[1].Occurrence)
	}
	if c := plan.Counts(); c[None] == 60 || c[None] == 0 {
		t.Fatalf("counts %v: want faults and successes", c)
	}
}
