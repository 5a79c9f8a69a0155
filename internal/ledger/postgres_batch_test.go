package ledger

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/ledger/ledgertest"
)

// gateBatches makes every lane of l hold its calls until n have been made,
// then run them as one batch (runBatch), so a test decides what shares a
// batch. Later calls run one batch per call.
func gateBatches(l *pgLedger, n int) {
	var mu sync.Mutex
	var held []*batchOp[pgCall]
	run := func(batch []*batchOp[pgCall]) {
		mu.Lock()
		held = append(held, batch...)
		if len(held) < n {
			mu.Unlock()
			return // finished later, by the call that completes the batch
		}
		all := held
		held, n = nil, 0
		mu.Unlock()
		l.runBatch(all)
	}
	for i := range l.lanes {
		l.lanes[i] = newBatcher(maxBatch, 1, run)
	}
}

type batchCase struct {
	name string
	call func(ctx context.Context) error
	want Reason // "" = success; replay cases compare their result too
	any  bool   // outcome checked by the test itself
}

// runTogether starts every case's call at once through a gate of len(cases)
// and checks each outcome.
func runTogether(t *testing.T, l *pgLedger, cases []batchCase) []error {
	t.Helper()
	gateBatches(l, len(cases))
	errs := make([]error, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Go(func() { errs[i] = c.call(context.Background()) })
	}
	wg.Wait()
	for i, c := range cases {
		var rej *RejectedError
		switch {
		case c.any:
		case c.want == "" && errs[i] != nil:
			t.Errorf("%s: %v, want success", c.name, errs[i])
		case c.want != "" && (!errors.As(errs[i], &rej) || rej.Reason != c.want):
			t.Errorf("%s: %v, want %s", c.name, errs[i], c.want)
		}
	}
	return errs
}

// A batch of reserves and then one of captures, each mixing the common path
// (which ledger_reserve_many / ledger_capture_many take) with every case they
// leave to the one-call functions: each call gets exactly the outcome it gets
// alone, the set-based path did run, and the audit is clean.
func TestPostgresSetBasedBatches(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var nowUS atomic.Int64
	nowUS.Store(clock.UnixMicro())
	lg, err := Open(ctx, Config{DSN: ledgertest.PostgresDSN(t), Now: func() time.Time { return time.UnixMicro(nowUS.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	l := lg.(*pgLedger)
	m, err := l.cat.lookup("gpt-4o")
	if err != nil {
		t.Fatal(err)
	}
	hold := ExpectedCost(m, 500)
	for user, amount := range map[string]int64{"rich": 100 * hold, "poor": hold + hold/2, "poorer": hold + hold/2} {
		if err := l.Credit(ctx, user, amount, "fund-"+user); err != nil {
			t.Fatal(err)
		}
	}

	res := map[string]Reservation{}
	var resMu sync.Mutex
	reserve := func(key, user string, ttl time.Duration) func(context.Context) error {
		return func(ctx context.Context) error {
			r, err := l.Reserve(ctx, ReserveRequest{UserID: user, ModelID: "gpt-4o", PromptTokens: 500, IdempotencyKey: key, TTL: ttl})
			if err == nil {
				resMu.Lock()
				defer resMu.Unlock()
				if prev, ok := res[key]; ok && prev != r {
					return errors.New("replay differs from the first result")
				}
				res[key] = r
			}
			return err
		}
	}
	// Seen before the batch: its key replays inside it.
	if err := reserve("r-seen", "rich", 0)(ctx); err != nil {
		t.Fatal(err)
	}
	before := l.setBased.Load()
	errs := runTogether(t, l, []batchCase{
		{name: "rich 1", call: reserve("r1", "rich", 0)},
		{name: "rich 2", call: reserve("r2", "rich", 0)},
		{name: "rich short", call: reserve("r-short", "rich", time.Minute)},
		{name: "rich over", call: reserve("r-over", "rich", 0)},
		{name: "twin a", call: reserve("r-twin", "rich", 0)},
		{name: "twin b", call: reserve("r-twin", "rich", 0)},
		{name: "seen", call: reserve("r-seen", "rich", 0)},
		{name: "poor", call: reserve("p1", "poor", 0)},
		// poorer can pay for one of its two holds: both run alone, one is refused.
		{name: "poorer a", call: reserve("q1", "poorer", 0), any: true},
		{name: "poorer b", call: reserve("q2", "poorer", 0), any: true},
		{name: "nobody", call: reserve("n1", "nobody", 0), want: ReasonInsufficientCredits},
	})
	if got := l.setBased.Load() - before; got != 5 {
		t.Errorf("set-based reserves = %d, want 5 (rich 1, rich 2, rich short, rich over, poor)", got)
	}
	if a, b := errs[8], errs[9]; (a == nil) == (b == nil) || !isReason(errors.Join(a, b), ReasonInsufficientCredits) {
		t.Errorf("poorer's two holds: %v and %v, want one held and one %s", a, b, ReasonInsufficientCredits)
	}
	if err := reserve("p2", "poor", 0)(ctx); !isReason(err, ReasonInsufficientCredits) {
		t.Errorf("poor's second hold: %v, want %s", err, ReasonInsufficientCredits)
	}

	capture := func(key, resKey string, usage Usage) func(context.Context) error {
		return func(ctx context.Context) error {
			id := resKey
			if r, ok := res[resKey]; ok {
				id = r.ID
			}
			_, err := l.Capture(ctx, CaptureRequest{ReservationID: id, IdempotencyKey: key, Usage: usage})
			return err
		}
	}
	ok := Usage{PromptTokens: 480, CompletionTokens: 300, TotalTokens: 780}
	// Seen before the batch.
	if err := capture("c-seen", "r-seen", ok)(ctx); err != nil {
		t.Fatal(err)
	}
	nowUS.Add((2 * time.Minute).Microseconds()) // r-short is overdue now
	before = l.setBased.Load()
	runTogether(t, l, []batchCase{
		{name: "capture 1", call: capture("c1", "r1", ok)},
		{name: "capture 2", call: capture("c2", "r2", Usage{PromptTokens: 500, CompletionTokens: 4096, TotalTokens: 4596})},
		{name: "capture twin", call: capture("c-twin", "r-twin", ok)},
		{name: "overdue", call: capture("c-short", "r-short", ok), want: ReasonHoldExpired},
		{name: "over usage", call: capture("c-over", "r-over", Usage{PromptTokens: 500, CompletionTokens: 5000, TotalTokens: 5500}),
			want: ReasonUsageExceedsReservation},
		{name: "seen", call: capture("c-seen", "r-seen", ok)},
		{name: "unknown", call: capture("c-unknown", "res_unknown", ok), want: ReasonReservationNotFound},
		{name: "poor", call: capture("c-p1", "p1", ok)},
	})
	if got := l.setBased.Load() - before; got != 4 {
		t.Errorf("set-based captures = %d, want 4 (capture 1, capture 2, capture twin, poor)", got)
	}
	// A second capture of a captured hold, under a new key, in a batch.
	before = l.setBased.Load()
	runTogether(t, l, []batchCase{
		{name: "again", call: capture("c1-again", "r1", ok), want: ReasonHoldNotActive},
		{name: "replay", call: capture("c1", "r1", ok)},
	})
	if got := l.setBased.Load() - before; got != 0 {
		t.Errorf("set-based captures of settled holds = %d, want 0", got)
	}

	bal, err := l.Balance(ctx, "rich")
	if err != nil {
		t.Fatal(err)
	}
	if bal.Held != hold { // r-over is still held
		t.Errorf("rich holds %d, want %d", bal.Held, hold)
	}
	rep, err := l.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		t.Errorf("audit: %v", rep.Violations)
	}
}

func isReason(err error, r Reason) bool {
	var rej *RejectedError
	return errors.As(err, &rej) && rej.Reason == r
}
