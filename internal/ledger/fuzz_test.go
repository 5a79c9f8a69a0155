package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/inferflow/inferflow/internal/ledger/ledgertest"
)

// FuzzLedgerCommands runs a short program of ledger commands (credit,
// reserve, capture, release, expire, clock steps), decoded from the input,
// against a fresh SQLite ledger in a temp file and, unless
// INFERFLOW_SKIP_POSTGRES=1, a fresh PostgreSQL one, whose outcomes must be
// the same, command by command. Every command succeeds or is
// refused with a typed error (*RejectedError, *IdempotencyConflictError);
// never a panic, never an untyped error; and after the program the audit
// finds no violation and every user's balance is what was credited.
//
// Each command is 8 bytes: op, user, model, key, then 4 bytes of argument;
// ids, keys, models and TTLs are drawn from small sets so that commands
// meet each other (reused keys, a capture after a release, a hold past its
// TTL), and amounts and token counts reach their bounds.
func FuzzLedgerCommands(f *testing.F) {
	f.Add([]byte{
		0, 0, 0, 0, 0, 1, 0, 0, // credit u0 65536
		1, 0, 0, 1, 0, 0, 0, 100, // reserve u0 offline-small 100 tokens
		2, 0, 0, 2, 0, 0, 0, 50, // capture hold 0 with 50 tokens
		3, 0, 0, 3, 0, 0, 0, 0, // release hold 0 (already captured)
	})
	f.Add([]byte{
		0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, // credit u1 a lot
		1, 1, 1, 1, 1, 0, 0, 10, // reserve gpt-4o, TTL choice 1
		5, 0, 0, 0, 0, 0, 0, 9, // advance the clock
		4, 0, 0, 0, 0, 0, 0, 0, // expire holds
		3, 0, 0, 2, 0, 0, 0, 0, // release the expired hold
	})
	f.Add([]byte{
		0, 0, 10, 0, 0xff, 0xff, 0xff, 0xff, // credit u0 plenty
		1, 0, 0, 1, 3, 0, 0, 1, // reserve with a TTL of 1 ns: refused (was a hold expiring as made)
		1, 0, 0, 2, 2, 0, 0, 1, // reserve with a TTL just under a millisecond: refused
		1, 0, 3, 3, 0, 0, 0, 1, // reserve an unknown model
		0, 1, 0, 4, 0, 0, 0, 0, // credit zero
		2, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, // capture a hold that does not exist
	})
	f.Add([]byte{
		0, 0, 0, 0, 0, 0x10, 0, 0,
		1, 0, 2, 1, 0, 0, 0x10, 0, // reserve claude
		1, 0, 2, 1, 0, 0, 0x10, 1, // same key, other tokens: idempotency conflict
		2, 0, 0, 1, 0x80, 0, 0x20, 0, // capture with inconsistent usage
		2, 0, 0, 2, 0, 0, 0x08, 0, // capture
		2, 0, 0, 2, 0, 0, 0x08, 0, // capture again, same key: idempotent
	})
	base := f.TempDir() // a fuzz test's own TempDir name holds '#', which the DSN refuses
	// One PostgreSQL schema per fuzzing process, emptied before each input
	// (a fresh schema and its migrations cost more than the program).
	var pg *pgx.Conn
	pgDSN := ""
	if os.Getenv("INFERFLOW_SKIP_POSTGRES") != "1" {
		pgDSN = ledgertest.PostgresDSN(f)
		l, err := Open(context.Background(), Config{DSN: pgDSN}) // migrates
		if err != nil {
			f.Fatal(err)
		}
		l.Close()
		if pg, err = pgx.Connect(context.Background(), pgDSN); err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { pg.Close(context.Background()) })
	}
	f.Fuzz(func(t *testing.T, program []byte) {
		const maxCommands = 24
		if len(program) > 8*maxCommands {
			program = program[:8*maxCommands]
		}
		dir, err := os.MkdirTemp(base, "run")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		lite := runLedgerProgram(t, filepath.Join(dir, "ledger.db"), program)
		if pg == nil {
			return
		}
		// The backends implement one contract: the same program gives the
		// same outcomes, command by command.
		if _, err := pg.Exec(context.Background(), `TRUNCATE accounts, journal_tx, journal_entries, reservations,
			idempotency, dlq, job_states, job_claims RESTART IDENTITY`); err != nil {
			t.Fatal(err)
		}
		other := runLedgerProgram(t, pgDSN, program)
		for i := range max(len(lite), len(other)) {
			var a, b string
			if i < len(lite) {
				a = lite[i]
			}
			if i < len(other) {
				b = other[i]
			}
			if a != b {
				t.Fatalf("backends disagree at step %d:\n  sqlite:   %s\n  postgres: %s", i, a, b)
			}
		}
	})
}

// runLedgerProgram runs program (see FuzzLedgerCommands) against a fresh
// ledger at dsn, fails t on a panic, an untyped error or a broken
// invariant, and returns what each command did, with nothing
// backend-specific in it (holds by their index, not their id).
func runLedgerProgram(t *testing.T, dsn string, program []byte) []string {
	ctx := context.Background()
	clock := newFakeClock()
	l, err := Open(ctx, Config{DSN: dsn, Catalog: testCatalog(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	users := []string{"u0", "u1"}
	models := []string{"offline-small", "gpt-4o", "claude-3-5-sonnet", "no-such-model", "retired", "prompt-heavy", ""}
	ttls := []time.Duration{0, time.Millisecond, time.Millisecond - 1, time.Nanosecond, -time.Second, MaxHoldTTL, MaxHoldTTL + 1, time.Minute}
	credited, creditKeys := map[string]int64{}, map[string]bool{}
	var holds []string
	holdID := func(i uint32) string {
		if len(holds) == 0 || i == 0xffffffff {
			return "res_nope"
		}
		return holds[int(i%uint32(len(holds)))]
	}
	var transcript []string
	for i := 0; i+8 <= len(program); i += 8 {
		c := program[i : i+8]
		op, user, model, key := c[0]%6, users[int(c[1])%len(users)], models[int(c[2])%len(models)], fmt.Sprintf("k%d", c[3]%6)
		arg := binary.BigEndian.Uint32(c[4:])
		var err error
		what, got := "", ""
		switch op {
		case 0:
			amount := int64(arg) << (c[2] % 24) // up to past MaxCreditAmount
			what = fmt.Sprintf("credit %s %d %s", user, amount, key)
			if err = l.Credit(ctx, user, amount, key); err == nil && !creditKeys[key] {
				credited[user] += amount // a repeated key is a replay: no second effect
				creditKeys[key] = true
			}
		case 1:
			req := ReserveRequest{UserID: user, ModelID: model, IdempotencyKey: key, TTL: ttls[int(c[4]&0x7f)%len(ttls)],
				PromptTokens: int(arg & 0x3fffffff)} // up to past MaxTokens
			if c[4]&0x80 != 0 {
				req.PromptTokens = -req.PromptTokens
			}
			what = fmt.Sprintf("reserve %+v", req)
			var r Reservation
			if r, err = l.Reserve(ctx, req); err == nil {
				idx := slices.Index(holds, r.ID)
				if idx < 0 {
					idx = len(holds)
					holds = append(holds, r.ID)
				}
				if r.ExpiresAt.Sub(r.CreatedAt) < MinHoldTTL || r.Amount <= 0 {
					t.Fatalf("%s: hold %+v", what, r)
				}
				got = fmt.Sprintf("hold #%d amount %d max %d expires %s", idx, r.Amount, r.MaxTokens, r.ExpiresAt.Sub(r.CreatedAt))
			}
		case 2:
			p, comp := int(arg>>16), int(arg&0xffff)
			u := Usage{PromptTokens: p, CompletionTokens: comp, TotalTokens: p + comp}
			if c[2]&1 != 0 {
				u.TotalTokens++ // inconsistent
			}
			req := CaptureRequest{ReservationID: holdID(arg), Usage: u, IdempotencyKey: key}
			what = fmt.Sprintf("capture #%d %+v %s", slices.Index(holds, req.ReservationID), u, key)
			var r CaptureResult
			if r, err = l.Capture(ctx, req); err == nil {
				if r.Charged < 0 || r.Returned < 0 {
					t.Fatalf("%s: %+v", what, r)
				}
				got = fmt.Sprintf("charged %d returned %d", r.Charged, r.Returned)
			}
		case 3:
			req := ReleaseRequest{ReservationID: holdID(arg), IdempotencyKey: key}
			what = fmt.Sprintf("release #%d %s", slices.Index(holds, req.ReservationID), key)
			var r ReleaseResult
			if r, err = l.Release(ctx, req); err == nil {
				if r.Returned < 0 {
					t.Fatalf("%s: %+v", what, r)
				}
				got = fmt.Sprintf("returned %d", r.Returned)
			}
		case 4:
			what = "expire holds"
			var n int
			n, err = l.ExpireHolds(ctx, clock.Now())
			got = fmt.Sprintf("%d expired", n)
		case 5:
			d := time.Duration(arg%(8*24*3600)) * time.Second
			clock.Advance(d)
			what = fmt.Sprintf("advance %s", d)
		}
		if err != nil {
			var re *RejectedError
			var ie *IdempotencyConflictError
			switch {
			case errors.As(err, &re):
				if re.Reason == "" {
					t.Fatalf("%s: rejection without a reason: %v", what, err)
				}
				got = "rejected " + string(re.Reason)
			case errors.As(err, &ie) && errors.Is(err, ErrIdempotencyConflict):
				got = "idempotency conflict with " + ie.Op
			default:
				t.Fatalf("%s: untyped error %T: %v", what, err, err)
			}
		}
		transcript = append(transcript, what+": "+got)
	}
	rep, err := l.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) > 0 {
		t.Fatalf("audit: %v", rep.Violations)
	}
	for _, u := range users {
		b, err := l.Balance(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if b.Available < 0 || b.Held < 0 || b.Spent < 0 || b.Available+b.Held+b.Spent != credited[u] {
			t.Fatalf("%s: balance %+v, credited %d", u, b, credited[u])
		}
		transcript = append(transcript, fmt.Sprintf("%s: %+v", u, b))
	}
	return transcript
}
