package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backend gives the conformance suite fresh, isolated stores: newDSN returns
// a DSN for an empty store that the test may Open as often as it likes.
type backend struct {
	name   string
	newDSN func(t testing.TB) string
}

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testCatalog is DefaultCatalog plus a disabled model and a model whose
// prompt is dearer than its completion (to reach the cap at the hold).
func testCatalog() []Model {
	return append(DefaultCatalog(),
		Model{ID: "retired", PromptPer1K: 1, CompletionPer1K: 1, MaxCompletionTokens: 10, Disabled: true},
		Model{ID: "prompt-heavy", PromptPer1K: 10000, CompletionPer1K: 1, MaxCompletionTokens: 10},
	)
}

type harness struct {
	t     *testing.T
	ctx   context.Context
	dsn   string
	clock *fakeClock
	l     Ledger
}

func newHarness(t *testing.T, b backend) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), dsn: b.newDSN(t), clock: newFakeClock()}
	h.l = h.open(testCatalog())
	return h
}

func (h *harness) open(cat []Model) Ledger {
	h.t.Helper()
	l, err := Open(h.ctx, Config{DSN: h.dsn, Catalog: cat, Now: h.clock.Now})
	if err != nil {
		h.t.Fatalf("Open: %v", err)
	}
	h.t.Cleanup(func() {
		if err := l.Close(); err != nil {
			h.t.Errorf("Close: %v", err)
		}
	})
	return l
}

func (h *harness) credit(user string, amount int64) {
	h.t.Helper()
	if err := h.l.Credit(h.ctx, user, amount, fmt.Sprintf("fund-%s-%d-%d", user, amount, time.Now().UnixNano())); err != nil {
		h.t.Fatalf("Credit: %v", err)
	}
}

func (h *harness) balance(user string) Balance {
	h.t.Helper()
	b, err := h.l.Balance(h.ctx, user)
	if err != nil {
		h.t.Fatalf("Balance: %v", err)
	}
	return b
}

func (h *harness) wantBalance(user string, want Balance) {
	h.t.Helper()
	if got := h.balance(user); got != want {
		h.t.Fatalf("balance of %s = %+v, want %+v", user, got, want)
	}
}

func (h *harness) reserve(req ReserveRequest) Reservation {
	h.t.Helper()
	r, err := h.l.Reserve(h.ctx, req)
	if err != nil {
		h.t.Fatalf("Reserve(%+v): %v", req, err)
	}
	return r
}

// audit fails the test on any invariant violation.
func (h *harness) audit() {
	h.t.Helper()
	rep, err := h.l.Audit(h.ctx)
	if err != nil {
		h.t.Fatalf("Audit: %v", err)
	}
	for _, v := range rep.Violations {
		h.t.Errorf("invariant violated: %s", v)
	}
}

func wantReason(t *testing.T, err error, want Reason) {
	t.Helper()
	got, ok := RejectionReason(err)
	if !ok || got != want {
		t.Fatalf("error = %v, want rejection %s", err, want)
	}
}

func gpt4o() Model {
	for _, m := range DefaultCatalog() {
		if m.ID == "gpt-4o" {
			return m
		}
	}
	panic("gpt-4o missing from DefaultCatalog")
}

// runConformance is the behaviour both backends must share.
func runConformance(t *testing.T, b backend) {
	t.Run("CreditAndBalance", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, b)
		h.wantBalance("nobody", Balance{})
		if err := h.l.Credit(h.ctx, "u1", 1000, "c1"); err != nil {
			t.Fatal(err)
		}
		if err := h.l.Credit(h.ctx, "u1", 1000, "c1"); err != nil { // replay: no second effect
			t.Fatal(err)
		}
		h.wantBalance("u1", Balance{Available: 1000})
		if err := h.l.Credit(h.ctx, "u1", 999, "c1"); !errors.Is(err, ErrIdempotencyConflict) {
			t.Fatalf("conflicting credit replay: %v", err)
		}
		if err := h.l.Credit(h.ctx, "u2", 1000, "c1"); !errors.Is(err, ErrIdempotencyConflict) {
			t.Fatalf("credit key reused for another user: %v", err)
		}
		h.wantBalance("u1", Balance{Available: 1000})
		h.audit()
	})

	t.Run("Validation", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, b)
		ctx, l := h.ctx, h.l
		cases := []struct {
			name string
			call func() error
			want Reason
		}{
			{"credit zero", func() error { return l.Credit(ctx, "u", 0, "k") }, ReasonInvalidAmount},
			{"credit negative", func() error { return l.Credit(ctx, "u", -5, "k") }, ReasonInvalidAmount},
			{"credit huge", func() error { return l.Credit(ctx, "u", MaxCreditAmount+1, "k") }, ReasonInvalidAmount},
			{"credit empty user", func() error { return l.Credit(ctx, " ", 5, "k") }, ReasonInvalidArgument},
			{"credit empty key", func() error { return l.Credit(ctx, "u", 5, "") }, ReasonInvalidArgument},
			{"balance empty user", func() error { _, err := l.Balance(ctx, ""); return err }, ReasonInvalidArgument},
			{"reserve empty user", func() error {
				_, err := l.Reserve(ctx, ReserveRequest{ModelID: "gpt-4o", PromptTokens: 1, IdempotencyKey: "k"})
				return err
			}, ReasonInvalidArgument},
			{"reserve empty model", func() error {
				_, err := l.Reserve(ctx, ReserveRequest{UserID: "u", PromptTokens: 1, IdempotencyKey: "k"})
				return err
			}, ReasonInvalidArgument},
			{"reserve empty key", func() error {
				_, err := l.Reserve(ctx, ReserveRequest{UserID: "u", ModelID: "gpt-4o", PromptTokens: 1})
				return err
			}, ReasonInvalidArgument},
			{"reserve zero tokens", func() error {
				_, err := l.Reserve(ctx, ReserveRequest{UserID: "u", ModelID: "gpt-4o", IdempotencyKey: "k"})
				return err
			}, ReasonInvalidArgument},
			{"reserve negative tokens", func() error {
				_, err := l.Reserve(ctx, ReserveRequest{UserID: "u", ModelID: "gpt-4o", PromptTokens: -1, IdempotencyKey: "k"})
				return err
			}, ReasonInvalidArgument},
			{"reserve negative ttl", func() error {
				_, err := l.Reserve(ctx, ReserveRequest{UserID: "u", ModelID: "gpt-4o", PromptTokens: 1, IdempotencyKey: "k", TTL: -time.Second})
				return err
			}, ReasonInvalidArgument},
			{"reserve ttl under a millisecond", func() error {
				_, err := l.Reserve(ctx, ReserveRequest{UserID: "u", ModelID: "gpt-4o", PromptTokens: 1, IdempotencyKey: "k", TTL: time.Millisecond - 1})
				return err
			}, ReasonInvalidArgument},
			{"capture empty id", func() error {
				_, err := l.Capture(ctx, CaptureRequest{IdempotencyKey: "k"})
				return err
			}, ReasonInvalidArgument},
			{"capture empty key", func() error {
				_, err := l.Capture(ctx, CaptureRequest{ReservationID: "r"})
				return err
			}, ReasonInvalidArgument},
			{"capture unknown hold", func() error {
				_, err := l.Capture(ctx, CaptureRequest{ReservationID: "res_nope", IdempotencyKey: "k"})
				return err
			}, ReasonReservationNotFound},
			{"release empty id", func() error {
				_, err := l.Release(ctx, ReleaseRequest{IdempotencyKey: "k"})
				return err
			}, ReasonInvalidArgument},
			{"release unknown hold", func() error {
				_, err := l.Release(ctx, ReleaseRequest{ReservationID: "res_nope", IdempotencyKey: "k"})
				return err
			}, ReasonReservationNotFound},
			{"reservation unknown", func() error { _, err := l.Reservation(ctx, "res_nope"); return err }, ReasonReservationNotFound},
			{"holds empty user", func() error { _, err := l.Holds(ctx, ""); return err }, ReasonInvalidArgument},
			{"job state empty id", func() error { return l.SetJobState(ctx, "", "CLAIMED") }, ReasonInvalidArgument},
			{"job state empty state", func() error { return l.SetJobState(ctx, "j", "") }, ReasonInvalidArgument},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { wantReason(t, c.call(), c.want) })
		}
		h.audit()
	})

	t.Run("ReserveRejections", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, b)
		h.credit("u", 10_000)
		cases := []struct {
			model  string
			prompt int
			want   Reason
		}{
			{"no-such-model", 10, ReasonUnknownModel},
			{"retired", 10, ReasonModelDisabled},
			{"gpt-4o", 10, ReasonInsufficientCredits}, // hold is ~41K micro-credits
		}
		for _, c := range cases {
			_, err := h.l.Reserve(h.ctx, ReserveRequest{UserID: "u", ModelID: c.model, PromptTokens: c.prompt, IdempotencyKey: "res-" + c.model})
			wantReason(t, err, c.want)
			if IsRejected(err) != true || errors.Is(err, ErrIdempotencyConflict) {
				t.Fatalf("%s: %v should be a plain rejection", c.model, err)
			}
		}
		h.wantBalance("u", Balance{Available: 10_000})
		// A rejection consumes no key: the same request succeeds once funded.
		h.credit("u", 100_000)
		r := h.reserve(ReserveRequest{UserID: "u", ModelID: "gpt-4o", PromptTokens: 10, IdempotencyKey: "res-gpt-4o"})
		if r.Status != HoldActive {
			t.Fatalf("status %s", r.Status)
		}
		h.audit()
	})

	t.Run("ReserveHoldsExpectedCost", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, b)
		h.credit("u", 1_000_000)
		m := gpt4o()
		r := h.reserve(ReserveRequest{UserID: "u", ModelID: "gpt-4o", PromptTokens: 1000, IdempotencyKey: "r1"})
		want := int64(2500 + 40960) // 1000*2500/1000 + 4096*10000/1000
		if r.Amount != want || ExpectedCost(m, 1000) != want {
			t.Fatalf("amount %d, want %d", r.Amount, want)
		}
		if r.MaxTokens != 1000+4096 || r.PromptPer1K != 2500 || r.CompletionPer1K != 10000 || r.MaxCompletionTokens != 4096 {
			t.Fatalf("snapshot %+v", r)
		}
		if got := r.ExpiresAt.Sub(r.CreatedAt); got != DefaultHoldTTL {
			t.Fatalf("ttl %v", got)
		}
		h.wantBalance("u", Balance{Available: 1_000_000 - want, Held: want})
		got, err := h.l.Reservation(h.ctx, r.ID)
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("Reservation() = %+v, %v; want %+v", got, err, r)
		}
		hs, err := h.l.Holds(h.ctx, "u")
		if err != nil || len(hs) != 1 || hs[0].ID != r.ID {
			t.Fatalf("Holds() = %+v, %v", hs, err)
		}
		h.audit()
	})

	t.Run("ReserveIdempotency", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, b)
		h.credit("u", 1_000_000)
		req := ReserveRequest{UserID: "u", ModelID: "gpt-4o", PromptTokens: 100, IdempotencyKey: "res_job1"}
		first := h.reserve(req)
		again := h.reserve(req)
		if !reflect.DeepEqual(first, again) {
			t.Fatalf("replay %+v != first %+v", again, first)
		}
		// TTL 0 means the default: the same request.
		req.TTL = DefaultHoldTTL
		if r := h.reserve(req); r.ID != first.ID {
			t.Fatal("explicit default TTL is a different request")
		}
		h.wantBalance("u", Balance{Available: 1_000_000 - first.Amount, Held: first.Amount})
		// The state changes, a replay still returns the first result.
		if _, err := h.l.Release(h.ctx, ReleaseRequest{ReservationID: first.ID, IdempotencyKey: "rel_job1"}); err != nil {
			t.Fatal(err)
		}
		if r := h.reserve(req); !reflect.DeepEqual(r, first) || r.Status != HoldActive {
			t.Fatalf("replay after release = %+v, want first result %+v", r, first)
		}
		conflicts := []ReserveRequest{
			{UserID: "u", ModelID: "gpt-4o", PromptTokens: 101, IdempotencyKey: "res_job1"},
			{UserID: "u", ModelID: "claude-3-5-sonnet", PromptTokens: 100, IdempotencyKey: "res_job1"},
			{UserID: "v", ModelID: "gpt-4o", PromptTokens: 100, IdempotencyKey: "res_job1"},
			{UserID: "u", ModelID: "gpt-4o", PromptTokens: 100, IdempotencyKey: "res_job1", TTL: time.Minute},
		}
		for _, c := range conflicts {
			_, err := h.l.Reserve(h.ctx, c)
			var ce *IdempotencyConflictError
			if !errors.Is(err, ErrIdempotencyConflict) || !errors.As(err, &ce) || ce.Op != opReserve || IsRejected(err) {
				t.Fatalf("Reserve(%+v) = %v, want idempotency conflict", c, err)
			}
		}
		// A key belongs to one operation.
		_, err := h.l.Capture(h.ctx, CaptureRequest{ReservationID: first.ID, IdempotencyKey: "res_job1",
			Usage: Usage{PromptTokens: 1, CompletionTokens: 1, TotalTokens: 2}})
		if !errors.Is(err, ErrIdempotencyConflict) {
			t.Fatalf("capture with a reserve key: %v", err)
		}
		h.wantBalance("u", Balance{Available: 1_000_000})
		h.audit()
	})

	t.Run("CaptureChargesUsageAtLockedPrice", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name        string
			model       string
			prompt      int
			usage       Usage
			wantCharged int64
			wantHold    int64
		}{
			{"typical", "gpt-4o", 1000, Usage{1000, 200, 1200}, 2500 + 2000, 43460},
			{"rounds up once", "gpt-4o", 1, Usage{1, 1, 2}, 13, 40963}, // 12.5 -> 13; hold 40962.5 -> 40963
			{"zero usage", "gpt-4o", 10, Usage{0, 0, 0}, 0, 40985},
			{"exactly max tokens", "offline-small", 100, Usage{100, 1024, 1124}, 10 + 205, 215}, // 10 + 204.8 -> 215
			{"capped at hold", "prompt-heavy", 10, Usage{20, 0, 20}, 101, 101},                  // 200 > 100.01 -> hold
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := newHarness(t, b)
				h.credit("u", 1_000_000)
				r := h.reserve(ReserveRequest{UserID: "u", ModelID: c.model, PromptTokens: c.prompt, IdempotencyKey: "res"})
				if r.Amount != c.wantHold {
					t.Fatalf("hold %d, want %d", r.Amount, c.wantHold)
				}
				got, err := h.l.Capture(h.ctx, CaptureRequest{ReservationID: r.ID, Usage: c.usage, IdempotencyKey: "cap"})
				if err != nil {
					t.Fatal(err)
				}
				if got.Charged != c.wantCharged || got.Returned != r.Amount-c.wantCharged || got.ReservationID != r.ID || got.Usage != c.usage {
					t.Fatalf("capture = %+v, want charged %d of %d", got, c.wantCharged, r.Amount)
				}
				h.wantBalance("u", Balance{Available: 1_000_000 - c.wantCharged, Spent: c.wantCharged})
				st, _ := h.l.Reservation(h.ctx, r.ID)
				if st.Status != HoldCaptured || st.Captured != c.wantCharged || st.Returned != r.Amount-c.wantCharged || st.ResolvedAt.IsZero() {
					t.Fatalf("hold after capture %+v", st)
				}
				h.audit()
			})
		}
	})

	t.Run("PriceLockedAtReservation", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, b)
		h.credit("u", 1_000_000)
		r := h.reserve(ReserveRequest{UserID: "u", ModelID: "gpt-4o", PromptTokens: 1000, IdempotencyKey: "res"})
		// Reopen the same store with a new price list: the old hold keeps its price.
		cat := testCatalog()
		for i := range cat {
			if cat[i].ID == "gpt-4o" {
				cat[i].PromptPer1K, cat[i].CompletionPer1K = 99_000, 99_000
			}
		}
		h.l = h.open(cat)
		c, err := h.l.Capture(h.ctx, CaptureRequest{ReservationID: r.ID, Usage: Usage{1000, 1000, 2000}, IdempotencyKey: "cap"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Charged != 2500+10000 {
			t.Fatalf("charged %d at the new price, want the locked 12500", c.Charged)
		}
		h.audit()
	})

	t.Run("CaptureRejectsBadUsage", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, b)
		h.credit("u", 1_000_000)
		r := h.reserve(ReserveRequest{UserID: "u", ModelID: "offline-small", PromptTokens: 100, IdempotencyKey: "res"})
		cases := []struct {
			usage Usage
			want  Reason
		}{
			{Usage{100, 1025, 1125}, ReasonUsageExceedsReservation},
			{Usage{2000, 0, 2000}, ReasonUsageExceedsReservation},
			{Usage{-1, 10, 9}, ReasonInvalidUsage},
			{Usage{10, -1, 9}, ReasonInvalidUsage},
			{Usage{10, 10, 21}, ReasonInvalidUsage},
			{Usage{10, 10, -20}, ReasonInvalidUsage},
		}
		for i, c := range cases {
			_, err := h.l.Capture(h.ctx, CaptureRequest{ReservationID: r.ID, Usage: c.usage, IdempotencyKey: fmt.Sprintf("cap%d", i)})
			wantReason(t, err, c.want)
		}
		// Nothing moved; the hold is still capturable.
		h.wantBalance("u", Balance{Available: 1_000_000 - r.Amount, Held: r.Amount})
		if _, err := h.l.Capture(h.ctx, CaptureRequest{ReservationID: r.ID, Usage: Usage{100, 1024, 1124}, IdempotencyKey: "cap0"}); err != nil {
			t.Fatalf("valid capture after rejections (reusing a rejected key): %v", err)
		}
		h.audit()
	})

	t.Run("CaptureAndReleaseIdempotency", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, b)
		h.credit("u", 1_000_000)
		r1 := h.reserve(ReserveRequest{UserID: "u", ModelID: "gpt-4o", PromptTokens: 10, IdempotencyKey: "res1"})
		r2 := h.reserve(ReserveRequest{UserID: "u", ModelID: "gpt-4o", PromptTokens: 10, IdempotencyKey: "res2"})
		creq := CaptureRequest{ReservationID: r1.ID, Usage: Usage{10, 90, 100}, IdempotencyKey: "cap1"}
		c1, err := h.l.Capture(h.ctx, creq)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(time.Minute)
		c2, err := h.l.Capture(h.ctx, creq)
		if err != nil || !reflect.DeepEqual(c1, c2) {
			t.Fatalf("capture replay = %+v, %v; want %+v", c2, err, c1)
		}
		creq.Usage = Usage{10, 91, 101}
		if _, err := h.l.Capture(h.ctx, creq); !errors.Is(err, ErrIdempotencyConflict) {
			t.Fatalf("capture replay with other usage: %v", err)
		}
		rreq := ReleaseRequest{ReservationID: r2.ID, IdempotencyKey: "rel2"}
		l1, err := h.l.Release(h.ctx, rreq)
		if err != nil || l1.Returned != r2.Amount {
			t.Fatalf("release = %+v, %v", l1, err)
		}
		l2, err := h.l.Release(h.ctx, rreq)
		if err != nil || !reflect.DeepEqual(l1, l2) {
			t.Fatalf("release replay = %+v, %v; want %+v", l2, err, l1)
		}
		if _, err := h.l.Release(h.ctx, ReleaseRequest{ReservationID: r1.ID, IdempotencyKey: "rel2"}); !errors.Is(err, ErrIdempotencyConflict) {
			t.Fatalf("release key reused for another hold: %v", err)
		}
		h.wantBalance("u", Balance{Available: 1_000_000 - c1.Charged, Spent: c1.Charged})
		h.audit()
	})

	t.Run("ResolveOnce", func(t *testing.T) {
		t.Parallel()
		capture := func(h *harness, id, key string) error {
			_, err := h.l.Capture(h.ctx, CaptureRequest{ReservationID: id, Usage: Usage{1, 1, 2}, IdempotencyKey: key})
			return err
		}
		release := func(h *harness, id, key string) error {
			_, err := h.l.Release(h.ctx, ReleaseRequest{ReservationID: id, IdempotencyKey: key})
			return err
		}
		expire := func(h *harness, id, key string) error {
			n, err := h.l.ExpireHolds(h.ctx, h.clock.Now().Add(DefaultHoldTTL))
			if err == nil && n != 1 {
				err = fmt.Errorf("expired %d holds, want 1", n)
			}
			return err
		}
		type step func(h *harness, id, key string) error
		cases := []struct {
			name        string
			first, then step
			want        Reason
			final       HoldStatus
		}{
			{"capture then release", capture, release, ReasonHoldNotActive, HoldCaptured},
			{"capture then capture", capture, capture, ReasonHoldNotActive, HoldCaptured},
			{"release then capture", release, capture, ReasonHoldNotActive, HoldReleased},
			{"release then release", release, release, ReasonHoldNotActive, HoldReleased},
			{"expire then capture", expire, capture, ReasonHoldExpired, HoldExpired},
			{"expire then release", expire, release, ReasonHoldExpired, HoldExpired},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := newHarness(t, b)
				h.credit("u", 1_000_000)
				r := h.reserve(ReserveRequest{UserID: "u", ModelID: "gpt-4o", PromptTokens: 10, IdempotencyKey: "res"})
				if err := c.first(h, r.ID, "k1"); err != nil {
					t.Fatal(err)
				}
				before := h.balance("u")
				wantReason(t, c.then(h, r.ID, "k2"), c.want)
				if got := h.balance("u"); got != before {
					t.Fatalf("rejected resolve moved money: %+v -> %+v", before, got)
				}
				if st, _ := h.l.Reservation(h.ctx, r.ID); st.Status != c.final {
					t.Fatalf("status %s, want %s", st.Status, c.final)
				}
				h.audit()
			})
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, b)
		h.credit("u", 1_000_000)
		short := h.reserve(ReserveRequest{UserID: "u", ModelID: "gpt-4o", PromptTokens: 10, IdempotencyKey: "r1", TTL: time.Minute})
		long := h.reserve(ReserveRequest{UserID: "u", ModelID: "gpt-4o", PromptTokens: 10, IdempotencyKey: "r2"})
		now := h.clock.Now()
		if n, err := h.l.ExpireHolds(h.ctx, now.Add(59*time.Second)); err != nil || n != 0 {
			t.Fatalf("early sweep expired %d, %v", n, err)
		}
		if n, err := h.l.ExpireHolds(h.ctx, now.Add(time.Minute)); err != nil || n != 1 {
			t.Fatalf("sweep expired %d, %v; want 1", n, err)
		}
		if n, err := h.l.ExpireHolds(h.ctx, now.Add(time.Minute)); err != nil || n != 0 {
			t.Fatalf("second sweep expired %d, %v; want 0", n, err)
		}
		h.wantBalance("u", Balance{Available: 1_000_000 - long.Amount, Held: long.Amount})
		st, _ := h.l.Reservation(h.ctx, short.ID)
		if st.Status != HoldExpired || st.Returned != short.Amount {
			t.Fatalf("expired hold %+v", st)
		}
		_, err := h.l.Capture(h.ctx, CaptureRequest{ReservationID: short.ID, Usage: Usage{1, 1, 2}, IdempotencyKey: "c1"})
		wantReason(t, err, ReasonHoldExpired)

		// An overdue hold that no sweep has seen yet is expired by the
		// capture that finds it, not charged.
		h.clock.Advance(DefaultHoldTTL)
		_, err = h.l.Capture(h.ctx, CaptureRequest{ReservationID: long.ID, Usage: Usage{1, 1, 2}, IdempotencyKey: "c2"})
		wantReason(t, err, ReasonHoldExpired)
		h.wantBalance("u", Balance{Available: 1_000_000})
		if n, err := h.l.ExpireHolds(h.ctx, h.clock.Now()); err != nil || n != 0 {
			t.Fatalf("sweep after lazy expiry: %d, %v", n, err)
		}
		h.audit()
	})

	t.Run("ExpireManyHolds", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, b)
		h.credit("u", 1_000_000_000)
		const n = 600 // more than one sweep batch
		for i := range n {
			h.reserve(ReserveRequest{UserID: "u", ModelID: "offline-small", PromptTokens: 10, IdempotencyKey: fmt.Sprint("r", i)})
		}
		got, err := h.l.ExpireHolds(h.ctx, h.clock.Now().Add(time.Hour))
		if err != nil || got != n {
			t.Fatalf("expired %d, %v; want %d", got, err, n)
		}
		h.wantBalance("u", Balance{Available: 1_000_000_000})
		h.audit()
	})

	t.Run("DLQ", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, b)
		rec := DLQRecord{Type: "CAPTURE_FAILED", JobID: "job-1", SchemaVersion: 1,
			Payload: json.RawMessage(`{"schemaVersion":1,"type":"CAPTURE_FAILED","jobId":"job-1","reservationId":"res_x"}`)}
		ins, err := h.l.PutDLQ(h.ctx, rec)
		if err != nil || !ins {
			t.Fatalf("first PutDLQ = %v, %v", ins, err)
		}
		dup := rec
		dup.Payload = json.RawMessage(`{"redelivered":true}`)
		if ins, err := h.l.PutDLQ(h.ctx, dup); err != nil || ins {
			t.Fatalf("redelivery PutDLQ = %v, %v; want false", ins, err)
		}
		v2 := rec
		v2.SchemaVersion = 2
		if ins, err := h.l.PutDLQ(h.ctx, v2); err != nil || !ins {
			t.Fatalf("new schema version PutDLQ = %v, %v", ins, err)
		}
		got, err := h.l.DLQ(h.ctx, "CAPTURE_FAILED", "job-1", 1)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		_ = json.Unmarshal(got.Payload, &a)
		_ = json.Unmarshal(rec.Payload, &b)
		if !reflect.DeepEqual(a, b) || got.Status != DLQOpen || got.Attempts != 0 {
			t.Fatalf("DLQ() = %+v", got)
		}
		for want := 1; want <= 3; want++ {
			if n, err := h.l.RecordDLQAttempt(h.ctx, "CAPTURE_FAILED", "job-1", 1); err != nil || n != want {
				t.Fatalf("attempt %d: %d, %v", want, n, err)
			}
		}
		if err := h.l.MarkDLQ(h.ctx, "CAPTURE_FAILED", "job-1", 1, DLQResolved, "captured on retry"); err != nil {
			t.Fatal(err)
		}
		open, err := h.l.ListDLQ(h.ctx, DLQOpen)
		if err != nil || len(open) != 1 || open[0].SchemaVersion != 2 {
			t.Fatalf("open = %+v, %v", open, err)
		}
		resolved, err := h.l.ListDLQ(h.ctx, DLQResolved)
		if err != nil || len(resolved) != 1 || resolved[0].Attempts != 3 || resolved[0].Note != "captured on retry" {
			t.Fatalf("resolved = %+v, %v", resolved, err)
		}
		if all, err := h.l.ListDLQ(h.ctx, ""); err != nil || len(all) != 2 {
			t.Fatalf("all = %+v, %v", all, err)
		}
		wantReason(t, h.l.MarkDLQ(h.ctx, "CAPTURE_FAILED", "job-2", 1, DLQEscalated, ""), ReasonNotFound)
		wantReason(t, h.l.MarkDLQ(h.ctx, "CAPTURE_FAILED", "job-1", 1, "bogus", ""), ReasonInvalidArgument)
		_, err = h.l.RecordDLQAttempt(h.ctx, "CAPTURE_FAILED", "job-2", 1)
		wantReason(t, err, ReasonNotFound)
		_, err = h.l.DLQ(h.ctx, "RELEASE_FAILED", "job-1", 1)
		wantReason(t, err, ReasonNotFound)
		_, err = h.l.ListDLQ(h.ctx, "bogus")
		wantReason(t, err, ReasonInvalidArgument)
		for _, bad := range []DLQRecord{
			{JobID: "j", SchemaVersion: 1, Payload: json.RawMessage(`{}`)},
			{Type: "T", SchemaVersion: 1, Payload: json.RawMessage(`{}`)},
			{Type: "T", JobID: "j", Payload: json.RawMessage(`{}`)},
			{Type: "T", JobID: "j", SchemaVersion: 1, Payload: json.RawMessage(`{not json`)},
			{Type: "T", JobID: "j", SchemaVersion: 1},
		} {
			_, err := h.l.PutDLQ(h.ctx, bad)
			wantReason(t, err, ReasonInvalidArgument)
		}
	})

	t.Run("JobState", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, b)
		if s, err := h.l.JobState(h.ctx, "job-1"); err != nil || s != "" {
			t.Fatalf("absent job = %q, %v", s, err)
		}
		for _, s := range []string{"CLAIMED", "RESERVED", "INFERENCE_RUNNING", "RECONCILIATION_REQUIRED"} {
			if err := h.l.SetJobState(h.ctx, "job-1", s); err != nil {
				t.Fatal(err)
			}
			if got, err := h.l.JobState(h.ctx, "job-1"); err != nil || got != s {
				t.Fatalf("JobState = %q, %v; want %s", got, err, s)
			}
		}
	})

	t.Run("JobClaims", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, b)
		if err := h.l.ClaimJob(h.ctx, "job-1", "run-a"); err != nil {
			t.Fatalf("first claim: %v", err)
		}
		// The same run again (a retried activity, a replay) keeps its claim.
		if err := h.l.ClaimJob(h.ctx, "job-1", "run-a"); err != nil {
			t.Fatalf("same run again: %v", err)
		}
		var claimed *JobClaimedError
		err := h.l.ClaimJob(h.ctx, "job-1", "run-b")
		if !errors.As(err, &claimed) || !errors.Is(err, ErrJobClaimed) || claimed.RunID != "run-a" || claimed.JobID != "job-1" {
			t.Fatalf("another run: %v; want a JobClaimedError naming run-a", err)
		}
		if IsRejected(err) {
			t.Fatalf("a refused claim is not a business rejection: %v", err)
		}
		// The refusal changed nothing; other jobs are independent.
		if err := h.l.ClaimJob(h.ctx, "job-1", "run-a"); err != nil {
			t.Fatalf("first run after a refusal: %v", err)
		}
		if err := h.l.ClaimJob(h.ctx, "job-2", "run-b"); err != nil {
			t.Fatalf("another job: %v", err)
		}
		wantReason(t, h.l.ClaimJob(h.ctx, "", "run-a"), ReasonInvalidArgument)
		wantReason(t, h.l.ClaimJob(h.ctx, "job-3", " "), ReasonInvalidArgument)

		// Racing first claims (two instances, as two workers): one wins.
		l2 := h.open(nil)
		const racers = 8
		var wg sync.WaitGroup
		errs := make([]error, racers)
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l := h.l
				if i%2 == 1 {
					l = l2
				}
				errs[i] = l.ClaimJob(h.ctx, "job-race", fmt.Sprintf("run-%d", i))
			}()
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("runs %d and %d both claimed job-race", winner, i)
			case err == nil:
				winner = i
			case !errors.As(err, &claimed):
				t.Fatalf("racer %d: %v", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no racer claimed job-race")
		}
		for i, err := range errs {
			if err != nil && (!errors.As(err, &claimed) || claimed.RunID != fmt.Sprintf("run-%d", winner)) {
				t.Fatalf("racer %d was refused with %v; want the winner run-%d named", i, err, winner)
			}
		}
	})

	t.Run("ReopenKeepsData", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, b)
		h.credit("u", 5000)
		l2 := h.open(nil) // migrations are idempotent
		if bal, err := l2.Balance(h.ctx, "u"); err != nil || bal.Available != 5000 {
			t.Fatalf("after reopen: %+v, %v", bal, err)
		}
	})

	t.Run("Concurrency", func(t *testing.T) {
		t.Parallel()
		runConcurrency(t, b, 1, 16, 50)
	})

	// Two ledgers on one store, as two worker processes would be: their
	// batches race for the same rows and keys.
	t.Run("ConcurrencyTwoInstances", func(t *testing.T) {
		t.Parallel()
		runConcurrency(t, b, 2, 16, 50)
	})
}

// runConcurrency hammers a few accounts with reserve/capture/release mixes in
// which several goroutines replay the same idempotency keys at once, then
// checks the invariants from the database.
func runConcurrency(t *testing.T, b backend, instances, workers, opsPerWorker int) {
	h := newHarness(t, b)
	ledgers := []Ledger{h.l}
	for range instances - 1 {
		ledgers = append(ledgers, h.open(testCatalog()))
	}
	const users, jobs = 4, 200
	const funding = 120_000 // under 3 concurrent gpt-4o holds (~41K each) per user: some reserves must fail
	for u := range users {
		h.credit(fmt.Sprint("cu", u), funding)
	}
	type outcome struct {
		mu       sync.Mutex
		reserves map[string]Reservation
		captures map[string]CaptureResult
		releases map[string]ReleaseResult
	}
	out := outcome{reserves: map[string]Reservation{}, captures: map[string]CaptureResult{}, releases: map[string]ReleaseResult{}}
	record := func(key string, v any) {
		out.mu.Lock()
		defer out.mu.Unlock()
		var prev any
		var seen bool
		switch r := v.(type) {
		case Reservation:
			prev, seen = out.reserves[key]
			if !seen {
				out.reserves[key] = r
			}
		case CaptureResult:
			prev, seen = out.captures[key]
			if !seen {
				out.captures[key] = r
			}
		case ReleaseResult:
			prev, seen = out.releases[key]
			if !seen {
				out.releases[key] = r
			}
		}
		if seen && !reflect.DeepEqual(prev, v) {
			t.Errorf("key %s answered %+v and %+v", key, prev, v)
		}
	}
	var insufficient atomic.Int64
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			l := ledgers[g%len(ledgers)]
			for i := range opsPerWorker {
				j := (g*37 + i*3) % jobs // ~4 workers touch each job, often at once
				user := fmt.Sprint("cu", j%users)
				r, err := l.Reserve(h.ctx, ReserveRequest{UserID: user, ModelID: "gpt-4o", PromptTokens: 50 + j%100,
					IdempotencyKey: fmt.Sprint("res_", j)})
				if reason, ok := RejectionReason(err); ok && reason == ReasonInsufficientCredits {
					insufficient.Add(1)
					continue
				}
				if err != nil {
					t.Errorf("reserve job %d: %v", j, err)
					continue
				}
				record(fmt.Sprint("res_", j), r)
				capture := func() {
					c, err := l.Capture(h.ctx, CaptureRequest{ReservationID: r.ID, IdempotencyKey: fmt.Sprint("cap_", j),
						Usage: Usage{PromptTokens: 50 + j%100, CompletionTokens: j * 7 % 4000, TotalTokens: 50 + j%100 + j*7%4000}})
					if err == nil {
						record(fmt.Sprint("cap_", j), c)
					} else if reason, ok := RejectionReason(err); !ok || reason != ReasonHoldNotActive {
						t.Errorf("capture job %d: %v", j, err)
					}
				}
				release := func() {
					rel, err := l.Release(h.ctx, ReleaseRequest{ReservationID: r.ID, IdempotencyKey: fmt.Sprint("rel_", j)})
					if err == nil {
						record(fmt.Sprint("rel_", j), rel)
					} else if reason, ok := RejectionReason(err); !ok || reason != ReasonHoldNotActive {
						t.Errorf("release job %d: %v", j, err)
					}
				}
				switch j % 3 {
				case 0:
					capture()
				case 1:
					release()
				default: // capture and release race for the same hold
					if g%2 == 0 {
						capture()
					} else {
						release()
					}
				}
			}
		})
	}
	wg.Wait()

	rep, err := h.l.Audit(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rep.Violations {
		t.Errorf("invariant violated: %s", v)
	}
	// One hold per reserve key, and no hold both captured and released.
	if rep.Reservations != len(out.reserves) {
		t.Errorf("%d holds in the store, %d distinct successful reserve keys", rep.Reservations, len(out.reserves))
	}
	for key, r := range out.reserves {
		j := key[len("res_"):]
		_, c := out.captures["cap_"+j]
		_, rl := out.releases["rel_"+j]
		if c && rl {
			t.Errorf("job %s was both captured and released", j)
		}
		st, err := h.l.Reservation(h.ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Captured > st.Amount {
			t.Errorf("hold %s captured %d > reserved %d", r.ID, st.Captured, st.Amount)
		}
	}
	var total, spent, charged int64
	for u := range users {
		bal := h.balance(fmt.Sprint("cu", u))
		if bal.Available < 0 || bal.Held < 0 {
			t.Errorf("negative balance %+v", bal)
		}
		total += bal.Available + bal.Held + bal.Spent
		spent += bal.Spent
	}
	for _, c := range out.captures {
		charged += c.Charged
	}
	if total != users*funding {
		t.Errorf("money not conserved: %d != %d", total, users*funding)
	}
	if spent != charged {
		t.Errorf("spent %d != sum of captures %d", spent, charged)
	}
	t.Logf("%d holds, %d captures, %d releases, %d insufficient-credit rejections, %d journal transactions",
		len(out.reserves), len(out.captures), len(out.releases), insufficient.Load(), rep.Transactions)
}
