package ledger

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

func TestParseCatalog(t *testing.T) {
	cases := []struct {
		in      string
		want    []Model
		wantErr string // substring; "" = no error
	}{
		{in: "gpt-4o:2500:10000:4096,claude-3-5-sonnet:3000:15000:4096", want: []Model{
			{ID: "gpt-4o", PromptPer1K: 2500, CompletionPer1K: 10000, MaxCompletionTokens: 4096},
			{ID: "claude-3-5-sonnet", PromptPer1K: 3000, CompletionPer1K: 15000, MaxCompletionTokens: 4096},
		}},
		{in: " offline-small:0:0:16:disabled , ,a:1:2:3:enabled", want: []Model{
			{ID: "offline-small", MaxCompletionTokens: 16, Disabled: true},
			{ID: "a", PromptPer1K: 1, CompletionPer1K: 2, MaxCompletionTokens: 3},
		}},
		{in: "", wantErr: "no models"},
		{in: "gpt-4o:2500:10000", wantErr: `entry 1 "gpt-4o:2500:10000": want id:promptPer1K`},
		{in: "a:1:1:1,b:x:1:1", wantErr: `entry 2 "b:x:1:1": prompt price "x"`},
		{in: "a:1:1.5:1", wantErr: `completion price "1.5"`},
		{in: "a:1:1:many", wantErr: `max completion tokens "many"`},
		{in: "a:-1:1:1", wantErr: "prompt price -1 out of range"},
		{in: "a:1:1:0", wantErr: "max completion tokens 0 out of range"},
		{in: "a:1:1:1:off", wantErr: `flag "off"`},
		{in: "a:1:1:1,a:2:2:2", wantErr: `entry 2 "a:2:2:2": duplicate model id "a"`},
		{in: ":1:1:1", wantErr: "must be non-empty"},
		{in: "a:1:1000000001:1", wantErr: "completion price 1000000001 out of range"},
	}
	for _, c := range cases {
		got, err := ParseCatalog(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseCatalog(%q) error = %v, want it to contain %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseCatalog(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestExpectedCost(t *testing.T) {
	gpt := Model{ID: "gpt-4o", PromptPer1K: 2500, CompletionPer1K: 10000, MaxCompletionTokens: 4096}
	cases := []struct {
		m      Model
		prompt int
		want   int64
	}{
		{gpt, 1000, 2500 + 40960},
		{gpt, 1, 40963}, // 40962.5 rounds up
		{gpt, 200_000, 500_000 + 40960},
		{Model{ID: "free", MaxCompletionTokens: 10}, 100, 0},
		{Model{ID: "tiny", PromptPer1K: 1, CompletionPer1K: 1, MaxCompletionTokens: 1}, 1, 1}, // 0.002 rounds up to 1
		// The largest inputs stay inside int64.
		{Model{ID: "max", PromptPer1K: MaxPricePer1K, CompletionPer1K: MaxPricePer1K, MaxCompletionTokens: MaxTokens}, MaxTokens,
			2 * int64(MaxTokens) * MaxPricePer1K / 1000},
	}
	for _, c := range cases {
		if got := ExpectedCost(c.m, c.prompt); got != c.want {
			t.Errorf("ExpectedCost(%s, %d) = %d, want %d", c.m.ID, c.prompt, got, c.want)
		}
	}
	for _, m := range DefaultCatalog() {
		if err := m.Validate(); err != nil {
			t.Errorf("DefaultCatalog: %v", err)
		}
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range map[string]Config{
		"unknown driver":    {Driver: "mysql", DSN: "x"},
		"duplicate model":   {DSN: t.TempDir() + "/l.db", Catalog: []Model{gpt4o(), gpt4o()}},
		"invalid model":     {DSN: t.TempDir() + "/l.db", Catalog: []Model{{ID: "x"}}},
		"sqlite query path": {DSN: t.TempDir() + "/l.db?mode=ro"},
	} {
		if l, err := Open(ctx, cfg); err == nil {
			l.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

func TestRejectedErrorHelpers(t *testing.T) {
	err := error(&RejectedError{Reason: ReasonInsufficientCredits, Msg: "x"})
	wrapped := &wrapErr{err}
	if !IsRejected(wrapped) {
		t.Fatal("IsRejected does not see through wrapping")
	}
	if r, ok := RejectionReason(wrapped); !ok || r != ReasonInsufficientCredits {
		t.Fatalf("RejectionReason = %v, %v", r, ok)
	}
	if IsRejected(&IdempotencyConflictError{Key: "k", Op: "reserve"}) {
		t.Fatal("an idempotency conflict is not a business rejection")
	}
}

type wrapErr struct{ err error }

func (w *wrapErr) Error() string { return "wrapped: " + w.err.Error() }
func (w *wrapErr) Unwrap() error { return w.err }
