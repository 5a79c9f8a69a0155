package ledger

import "testing"

// TestSnapshot: a snapshot holds every account, transaction (with its
// entries), hold, idempotency key and job claim, on both backends.
func TestSnapshot(t *testing.T) {
	for _, b := range []backend{sqliteBackend(), postgresBackend(t)} {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b)
			h.credit("u1", 1_000_000)
			r := h.reserve(ReserveRequest{UserID: "u1", ModelID: "gpt-4o", PromptTokens: 100, IdempotencyKey: "res_j1"})
			if _, err := h.l.Capture(h.ctx, CaptureRequest{ReservationID: r.ID, IdempotencyKey: "cap_j1",
				Usage: Usage{PromptTokens: 100, CompletionTokens: 10, TotalTokens: 110}}); err != nil {
				t.Fatal(err)
			}
			if err := h.l.ClaimJob(h.ctx, "j1", "run-1"); err != nil {
				t.Fatal(err)
			}
			s, err := ReadSnapshot(h.ctx, h.l)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Transactions) != 3 || len(s.Reservations) != 1 || len(s.IdempotencyKeys) != 3 || len(s.Claims) != 1 {
				t.Fatalf("snapshot counts: %d tx, %d holds, %d keys, %d claims; want 3, 1, 3, 1",
					len(s.Transactions), len(s.Reservations), len(s.IdempotencyKeys), len(s.Claims))
			}
			kinds := ""
			for _, tx := range s.Transactions {
				kinds += tx.Kind + " "
				var sum int64
				for _, e := range tx.Entries {
					sum += e.Amount
				}
				if len(tx.Entries) == 0 || sum != 0 {
					t.Errorf("tx %+v: %d entries summing to %d", tx, len(tx.Entries), sum)
				}
			}
			if kinds != "credit reserve capture " {
				t.Errorf("transaction kinds = %q", kinds)
			}
			if got := s.Reservations[0]; got.ID != r.ID || got.Status != HoldCaptured {
				t.Errorf("hold = %+v", got)
			}
			if s.Transactions[1].ReservationID != r.ID || s.Transactions[1].IdempotencyKey != "res_j1" {
				t.Errorf("reserve tx = %+v", s.Transactions[1])
			}
			var total int64
			for _, a := range s.Accounts {
				total += a.Balance
			}
			if total != 0 || len(s.Accounts) != 4 {
				t.Errorf("%d accounts summing to %d", len(s.Accounts), total)
			}
			if s.Claims[0] != (JobClaim{JobID: "j1", RunID: "run-1"}) {
				t.Errorf("claim = %+v", s.Claims[0])
			}
		})
	}
}
