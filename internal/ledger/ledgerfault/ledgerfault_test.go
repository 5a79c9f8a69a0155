package ledgerfault

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/inferflow/inferflow/internal/ledger"
)

func TestInjectsThenPassesThrough(t *testing.T) {
	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Config{DSN: filepath.Join(t.TempDir(), "l.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Credit(ctx, "u", 1_000_000, "seed"); err != nil {
		t.Fatal(err)
	}
	f := Wrap(l, 2, 1)
	r, err := f.Reserve(ctx, ledger.ReserveRequest{UserID: "u", ModelID: "offline-small", PromptTokens: 10, IdempotencyKey: "res"})
	if err != nil {
		t.Fatal(err)
	}
	capture := func() error {
		_, err := f.Capture(ctx, ledger.CaptureRequest{ReservationID: r.ID, IdempotencyKey: "cap",
			Usage: ledger.Usage{PromptTokens: 10, CompletionTokens: 1, TotalTokens: 11}})
		return err
	}
	for i, want := range []error{ErrInjected, ErrInjected, nil} {
		if err := capture(); !errors.Is(err, want) {
			t.Fatalf("capture %d: err = %v, want %v", i+1, err, want)
		}
	}
	if _, err := f.Release(ctx, ledger.ReleaseRequest{ReservationID: r.ID, IdempotencyKey: "rel"}); !errors.Is(err, ErrInjected) {
		t.Fatalf("release err = %v", err)
	}
	if c, rel := f.Calls(); c != 3 || rel != 1 {
		t.Fatalf("calls = %d, %d", c, rel)
	}
}
