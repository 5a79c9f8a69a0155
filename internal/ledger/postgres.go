package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgLedger is the PostgreSQL backend. Each ledger operation is one call of a
// PL/pgSQL function (schema/postgres/0002_functions.sql, revised by later
// migrations) that runs the whole operation server side under READ
// COMMITTED, taking row locks in a fixed order. The SQLite backend implements the same rules in Go; the conformance
// suite holds them together.
//
// Concurrent operations are batched (see batcher): a leader sends up to
// maxBatch operations in one pipelined round trip, which PostgreSQL runs as
// one implicit transaction with one commit. A batch's reserves go as one
// set-based call (ledger_reserve_many), its captures as another
// (ledger_capture_many, schema/postgres/0006), which do the common path for
// all of them in one statement and hand back the rest (a replay, a refusal,
// anything unusual) to run afterwards through the one-call functions. If
// the transaction fails (a deadlock or unique violation against another
// process, say) nothing of it committed, and each operation is re-run on its
// own with retries.
//
// There are pgLanes batchers (lanes), each with one leader, and a user's
// operations always go to the same lane (userLane; a reservation id carries
// its user's lane, see reservationLane). Batches of different lanes run
// concurrently on different connections without touching the same account
// rows (but funding, which only Credit locks, and a batch holding it waits
// for nothing of another lane), so they neither deadlock nor, mostly, wait on
// each other's row locks. With one call per operation, two lanes were
// fastest (one batch executes while the other commits); since the set-based
// calls, one lane is: its batches are twice as large, and a set-based call's
// cost hardly grows with its size (see pgLanes).
type pgLedger struct {
	pool  *pgPool
	cat   catalog
	now   func() time.Time
	lanes [pgLanes]*batcher[pgCall]

	setBased atomic.Int64 // statistics: calls done by a set-based call
}

type pgCall struct {
	op   string // opReserve, opCapture, ...: which calls can share a set-based call
	sql  string
	args []any
	out  *pgOutcome
}

// pgOutcome is the (outcome, body, msg) row every ledger function returns.
type pgOutcome struct{ outcome, body, msg string }

// pgOpTimeout bounds a batch or a single operation once a leader runs it
// (callers' contexts no longer apply then, see batcher.do).
const pgOpTimeout = 30 * time.Second

func openPostgres(ctx context.Context, cfg Config, cat catalog) (Ledger, error) {
	scrub := newScrubber(cfg.DSN)
	cc, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, scrub.scrub(parseError(cfg.DSN, err))
	}
	l := &pgLedger{pool: newPGPool(cc, cfg.MaxConns, scrub), cat: cat, now: cfg.Now}
	for i := range l.lanes {
		l.lanes[i] = newBatcher(maxBatch, 1, l.runBatch)
	}
	if err := l.migrate(ctx); err != nil {
		l.pool.close()
		return nil, scrub.scrub(err)
	}
	return l, nil
}

// parseError words a DSN pgx cannot parse without pgx's copy of the DSN:
// its redaction is best effort (an escaped quote in a key=value password
// ends it early), so the DSN is shown as RedactDSN has it, followed by
// pgx's reason.
func parseError(dsn string, err error) error {
	var pce *pgconn.ParseConfigError
	if !errors.As(err, &pce) {
		return fmt.Errorf("ledger: postgres DSN %s: %w", RedactDSN(dsn), err)
	}
	reason := "cannot parse"
	if _, after, ok := strings.Cut(pce.Error(), "`: "); ok && !strings.Contains(after, "`") {
		reason = after
	}
	return &dsnError{msg: fmt.Sprintf("ledger: postgres DSN %s: %s", RedactDSN(dsn), reason), err: err}
}

// dsnError shows its own text; errors.As still finds pgx's error (whose
// ConnString field holds the DSN: never print it).
type dsnError struct {
	msg string
	err error
}

func (e *dsnError) Error() string { return e.msg }
func (e *dsnError) Unwrap() error { return e.err }

func (l *pgLedger) Close() error {
	l.pool.close()
	return nil
}

func (l *pgLedger) Catalog() []Model { return catalogList(l.cat) }

const pgMaxAttempts = 8

// retryable reports errors that a re-run of the same call can get past:
// serialization failures, deadlocks, and unique violations from two first
// inserts racing (a new account, or twins of one idempotency key — the
// re-run then finds the key and replays).
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40001", "40P01", "23505":
		return true
	}
	return false
}

// with runs fn on a pooled connection and re-runs it on retryable errors.
func (l *pgLedger) with(ctx context.Context, fn func(c *pgx.Conn) error) error {
	for attempt := 1; ; attempt++ {
		c, err := l.pool.acquire(ctx)
		if err != nil {
			return err
		}
		err = fn(c)
		l.pool.release(c, err)
		if err == nil || !retryable(err) || attempt == pgMaxAttempts {
			return err
		}
		// Jittered backoff so the racers do not collide again in lockstep.
		d := time.Duration(rand.Int64N(int64(time.Millisecond) << attempt))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *pgLedger) migrate(ctx context.Context) error {
	migs, err := loadMigrations("postgres")
	if err != nil {
		return err
	}
	err = l.with(ctx, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			// Concurrent Opens of one schema apply the migrations once.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('inferflow-ledger:' || current_schema()))`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
				return err
			}
			var cur int
			if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
				return err
			}
			for _, m := range migs {
				if m.version <= cur {
					continue
				}
				if _, err := tx.Exec(ctx, m.sql); err != nil {
					return fmt.Errorf("migration %s: %w", m.name, err)
				}
				if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
					return fmt.Errorf("migration %s: %w", m.name, err)
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("ledger: postgres migrate: %w", err)
	}
	return nil
}

// call runs one ledger function returning (outcome, body, msg) and turns the
// outcome into a result (decoded into dst) or a typed error.
func (l *pgLedger) call(ctx context.Context, lane int, op, key string, dst any, q string, args ...any) error {
	o, err := l.run(ctx, lane, op, q, args...)
	if err != nil {
		return err
	}
	return outcomeErr(o.outcome, o.body, o.msg, key, dst)
}

// run runs one ledger function through lane's batcher.
func (l *pgLedger) run(ctx context.Context, lane int, op, q string, args ...any) (pgOutcome, error) {
	var o pgOutcome
	if err := l.lanes[lane].do(ctx, pgCall{op: op, sql: q, args: args, out: &o}); err != nil {
		return o, fmt.Errorf("ledger: postgres %s: %w", op, err)
	}
	return o, nil
}

func (l *pgLedger) runBatch(batch []*batchOp[pgCall]) {
	if len(batch) > 1 {
		ctx, cancel := context.WithTimeout(context.Background(), pgOpTimeout)
		singles, setBased, err := l.sendBatch(ctx, batch)
		cancel()
		if err == nil {
			l.setBased.Add(int64(setBased - len(singles)))
			for _, op := range batch {
				if !slices.Contains(singles, op) {
					op.finish(nil)
				}
			}
			// The set-based calls left these to the one-call functions.
			batch = singles
		}
	}
	for _, op := range batch {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(op.ctx), pgOpTimeout)
		op.finish(l.with(ctx, func(c *pgx.Conn) error {
			o := op.req.out
			return c.QueryRow(ctx, op.req.sql, op.req.args...).Scan(&o.outcome, &o.body, &o.msg)
		}))
		cancel()
	}
}

// minSetBased is the fewest reserves (or captures) of a batch that go through
// one set-based call (ledger_reserve_many, ledger_capture_many) rather than
// a call each.
const minSetBased = 2

// sendBatch runs the calls in one pipelined round trip and one implicit
// transaction: the batch's reserves as one ledger_reserve_many call and its
// captures as one ledger_capture_many (when there are at least minSetBased
// of them), every other call on its own. The scanned outcomes count only if
// the whole batch committed. singles are the calls the set-based functions
// left undone (outcome 'single'), to be run on their own afterwards.
func (l *pgLedger) sendBatch(ctx context.Context, batch []*batchOp[pgCall]) (singles []*batchOp[pgCall], setBased int, err error) {
	var reserves, captures, rest []*batchOp[pgCall]
	for _, op := range batch {
		switch op.req.op {
		case opReserve:
			reserves = append(reserves, op)
		case opCapture:
			captures = append(captures, op)
		default:
			rest = append(rest, op)
		}
	}
	b := &pgx.Batch{}
	var queued []pgQueued // in queue order
	for _, g := range []struct {
		ops  []*batchOp[pgCall]
		call string
	}{{reserves, sqlReserveMany}, {captures, sqlCaptureMany}} {
		if len(g.ops) < minSetBased {
			rest = append(rest, g.ops...)
			continue
		}
		cols, err := columns(g.ops)
		if err != nil {
			return nil, 0, err
		}
		b.Queue(g.call, cols...)
		queued = append(queued, pgQueued{ops: g.ops, setBased: true})
		setBased += len(g.ops)
	}
	for _, op := range rest {
		b.Queue(op.req.sql, op.req.args...)
		queued = append(queued, pgQueued{ops: []*batchOp[pgCall]{op}})
	}

	c, err := l.pool.acquire(ctx)
	if err != nil {
		return nil, 0, err
	}
	br := c.SendBatch(ctx, b)
	for _, q := range queued {
		if !q.setBased {
			o := q.ops[0].req.out
			err = br.QueryRow().Scan(&o.outcome, &o.body, &o.msg)
		} else {
			singles, err = scanSetBased(br, q.ops, singles)
		}
		if err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	l.pool.release(c, err)
	return singles, setBased, err
}

// pgQueued is one query of a batch: one call, or a set-based call for ops.
type pgQueued struct {
	ops      []*batchOp[pgCall]
	setBased bool
}

const (
	sqlReserveMany = `SELECT ord, outcome, body, msg FROM ledger_reserve_many($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`
	sqlCaptureMany = `SELECT ord, outcome, body, msg FROM ledger_capture_many($1, $2, $3, $4, $5, $6, $7, $8)`
)

// columns turns calls of one function (the same argument list each) into
// one array per argument, the set-based function's arguments.
func columns(ops []*batchOp[pgCall]) ([]any, error) {
	n := len(ops[0].req.args)
	cols := make([]any, n)
	for j := range n {
		switch ops[0].req.args[j].(type) {
		case string:
			cols[j] = column[string](ops, j)
		case int:
			cols[j] = column[int](ops, j)
		case int64:
			cols[j] = column[int64](ops, j)
		default:
			return nil, fmt.Errorf("ledger: no array column for argument %d of %s (%T)", j, ops[0].req.op, ops[0].req.args[j])
		}
		if cols[j] == nil {
			return nil, fmt.Errorf("ledger: argument %d of the %s calls differs in type", j, ops[0].req.op)
		}
	}
	return cols, nil
}

// column is argument j of every call, or nil if one of them is not a T.
func column[T any](ops []*batchOp[pgCall], j int) any {
	out := make([]T, len(ops))
	for i, op := range ops {
		v, ok := op.req.args[j].(T)
		if !ok {
			return nil
		}
		out[i] = v
	}
	return out
}

// scanSetBased reads a set-based call's rows (ord is 1-based in ops order)
// and returns singles with the calls it left undone appended.
func scanSetBased(br pgx.BatchResults, ops []*batchOp[pgCall], singles []*batchOp[pgCall]) ([]*batchOp[pgCall], error) {
	rows, err := br.Query()
	if err != nil {
		return singles, err
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var ord int32
		var o pgOutcome
		if err := rows.Scan(&ord, &o.outcome, &o.body, &o.msg); err != nil {
			return singles, err
		}
		if ord < 1 || int(ord) > len(ops) {
			return singles, fmt.Errorf("ledger: set-based %s returned row %d of %d", ops[0].req.op, ord, len(ops))
		}
		op := ops[ord-1]
		if o.outcome == "single" {
			singles = append(singles, op)
		} else {
			*op.req.out = o
		}
		seen++
	}
	if err := rows.Err(); err != nil {
		return singles, err
	}
	if seen != len(ops) {
		return singles, fmt.Errorf("ledger: set-based %s returned %d rows for %d calls", ops[0].req.op, seen, len(ops))
	}
	return singles, nil
}

func outcomeErr(outcome, body, msg, key string, dst any) error {
	switch outcome {
	case "ok", "replay":
		if dst == nil {
			return nil
		}
		return decodeResult(body, dst)
	case "conflict":
		return &IdempotencyConflictError{Key: key, Op: body}
	case "rejected":
		return &RejectedError{Reason: Reason(body), Msg: msg}
	default:
		return fmt.Errorf("ledger: postgres: unexpected outcome %q", outcome)
	}
}

// pgRowTo adapts a scanner shared with the SQLite backend to pgx's row
// collectors. (pgx.RowToStructByName would need a second, tagged struct for
// the micro-second timestamps; the positional scanners serve both backends.)
func pgRowTo[T any](scan func(rowScanner) (T, error)) pgx.RowToFunc[T] {
	return func(row pgx.CollectableRow) (T, error) { return scan(row) }
}

func rfc3339(t time.Time) string { return t.Format(time.RFC3339Nano) }

func (l *pgLedger) Credit(ctx context.Context, userID string, amount int64, key string) error {
	if err := validateCredit(userID, amount, key); err != nil {
		return err
	}
	return l.call(ctx, userLane(userID), opCredit, key, nil, `SELECT outcome, body, msg FROM ledger_credit($1, $2, $3, $4, $5)`,
		key, fpCredit(userID, amount), userID, amount, micros(l.now()))
}

func (l *pgLedger) Balance(ctx context.Context, userID string) (Balance, error) {
	if err := checkID("userID", userID); err != nil {
		return Balance{}, err
	}
	var b Balance
	err := l.with(ctx, func(c *pgx.Conn) error {
		b = Balance{}
		rows, err := c.Query(ctx, `SELECT kind, balance FROM accounts WHERE name = ANY($1)`,
			[]string{accAvailable(userID), accHeld(userID), accSpent(userID)})
		if err != nil {
			return err
		}
		var kind string
		var v int64
		_, err = pgx.ForEachRow(rows, []any{&kind, &v}, func() error { b.set(kind, v); return nil })
		return err
	})
	if err != nil {
		return Balance{}, fmt.Errorf("ledger: postgres balance: %w", err)
	}
	return b, nil
}

func (l *pgLedger) Reserve(ctx context.Context, req ReserveRequest) (Reservation, error) {
	if err := validateReserve(&req); err != nil {
		return Reservation{}, err
	}
	fp := fpReserve(req)
	var out Reservation
	m, err := l.cat.lookup(req.ModelID)
	if err != nil {
		// The catalog may have changed since a first, successful call: its
		// replay still returns the first result.
		if found, kerr := l.replay(ctx, req.IdempotencyKey, fp, &out); kerr != nil || found {
			return out, kerr
		}
		return Reservation{}, err
	}
	id, err := newReservationIDInLane(userLane(req.UserID))
	if err != nil {
		return Reservation{}, err
	}
	now := fromMicros(micros(l.now()))
	out = Reservation{
		ID: id, UserID: req.UserID, ModelID: m.ID, PromptTokens: req.PromptTokens,
		MaxTokens: req.PromptTokens + m.MaxCompletionTokens, Amount: ExpectedCost(m, req.PromptTokens),
		PromptPer1K: m.PromptPer1K, CompletionPer1K: m.CompletionPer1K, MaxCompletionTokens: m.MaxCompletionTokens,
		Status: HoldActive, CreatedAt: now, ExpiresAt: fromMicros(micros(now.Add(req.TTL))),
	}
	body, err := toJSON(out)
	if err != nil {
		return Reservation{}, err
	}
	o, err := l.run(ctx, userLane(req.UserID), opReserve,
		`SELECT outcome, body, msg FROM ledger_reserve($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		req.IdempotencyKey, fp, out.ID, out.UserID, out.ModelID, out.PromptTokens, out.MaxTokens, out.Amount,
		out.PromptPer1K, out.CompletionPer1K, out.MaxCompletionTokens, micros(out.CreatedAt), micros(out.ExpiresAt), body)
	if err != nil {
		return Reservation{}, err
	}
	if o.outcome == "ok" && o.body == body {
		return out, nil // stored as sent: no need to decode it back
	}
	var res Reservation
	if err := outcomeErr(o.outcome, o.body, o.msg, req.IdempotencyKey, &res); err != nil {
		return Reservation{}, err
	}
	return res, nil
}

// replay looks up a key outside of an operation: found=true with dst filled
// for a replay, an *IdempotencyConflictError for a conflict.
func (l *pgLedger) replay(ctx context.Context, key, fp string, dst any) (bool, error) {
	var outcome, body *string
	err := l.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT outcome, body FROM ledger_key($1, $2)`, key, fp).Scan(&outcome, &body)
	})
	if err != nil {
		return false, fmt.Errorf("ledger: postgres idempotency lookup: %w", err)
	}
	if outcome == nil {
		return false, nil
	}
	return true, outcomeErr(*outcome, *body, "", key, dst)
}

func (l *pgLedger) Capture(ctx context.Context, req CaptureRequest) (CaptureResult, error) {
	if err := checkID("reservationID", req.ReservationID); err != nil {
		return CaptureResult{}, err
	}
	if err := checkID("idempotency key", req.IdempotencyKey); err != nil {
		return CaptureResult{}, err
	}
	if err := validateUsage(req.Usage); err != nil {
		return CaptureResult{}, err
	}
	now := fromMicros(micros(l.now()))
	var out CaptureResult
	err := l.call(ctx, reservationLane(req.ReservationID), opCapture, req.IdempotencyKey, &out,
		`SELECT outcome, body, msg FROM ledger_capture($1, $2, $3, $4, $5, $6, $7, $8)`,
		req.IdempotencyKey, fpCapture(req), req.ReservationID,
		req.Usage.PromptTokens, req.Usage.CompletionTokens, req.Usage.TotalTokens, micros(now), rfc3339(now))
	if err != nil {
		return CaptureResult{}, err
	}
	return out, nil
}

func (l *pgLedger) Release(ctx context.Context, req ReleaseRequest) (ReleaseResult, error) {
	if err := checkID("reservationID", req.ReservationID); err != nil {
		return ReleaseResult{}, err
	}
	if err := checkID("idempotency key", req.IdempotencyKey); err != nil {
		return ReleaseResult{}, err
	}
	now := fromMicros(micros(l.now()))
	var out ReleaseResult
	err := l.call(ctx, reservationLane(req.ReservationID), opRelease, req.IdempotencyKey, &out,
		`SELECT outcome, body, msg FROM ledger_release($1, $2, $3, $4, $5)`,
		req.IdempotencyKey, fpRelease(req), req.ReservationID, micros(now), rfc3339(now))
	if err != nil {
		return ReleaseResult{}, err
	}
	return out, nil
}

func (l *pgLedger) ExpireHolds(ctx context.Context, now time.Time) (int, error) {
	const batch = 256 // keeps each transaction's lock set small
	total := 0
	for {
		var n int
		err := l.with(ctx, func(c *pgx.Conn) error {
			return c.QueryRow(ctx, `SELECT ledger_expire_holds($1, $2)`, micros(now), batch).Scan(&n)
		})
		if err != nil {
			return total, fmt.Errorf("ledger: postgres expire holds: %w", err)
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}

func (l *pgLedger) Holds(ctx context.Context, userID string) ([]Reservation, error) {
	if err := checkID("userID", userID); err != nil {
		return nil, err
	}
	var out []Reservation
	err := l.with(ctx, func(c *pgx.Conn) error {
		out = nil
		rows, err := c.Query(ctx, `SELECT `+sqlResCols+` FROM reservations WHERE user_id = $1 ORDER BY created_at, id`, userID)
		if err != nil {
			return err
		}
		out, err = pgx.AppendRows([]Reservation(nil), rows, pgRowTo(scanReservation))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: postgres holds: %w", err)
	}
	return out, nil
}

func (l *pgLedger) Reservation(ctx context.Context, id string) (Reservation, error) {
	if err := checkID("reservationID", id); err != nil {
		return Reservation{}, err
	}
	var r Reservation
	err := l.with(ctx, func(c *pgx.Conn) error {
		var err error
		r, err = scanReservation(c.QueryRow(ctx, `SELECT `+sqlResCols+` FROM reservations WHERE id = $1`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Reservation{}, reject(ReasonReservationNotFound, "reservation %q does not exist", id)
	}
	if err != nil {
		return Reservation{}, fmt.Errorf("ledger: postgres reservation %s: %w", id, err)
	}
	return r, nil
}

func (l *pgLedger) Audit(ctx context.Context) (AuditReport, error) {
	var rep AuditReport
	err := l.with(ctx, func(c *pgx.Conn) error {
		// One snapshot for every check.
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck // read-only
		rep, err = runAudit(ctx,
			func(ctx context.Context, q string, dst ...*int) error {
				args := make([]any, len(dst))
				for i := range dst {
					args[i] = dst[i]
				}
				return tx.QueryRow(ctx, q).Scan(args...)
			},
			func(ctx context.Context, q string) ([]string, error) {
				rows, err := tx.Query(ctx, q)
				if err != nil {
					return nil, fmt.Errorf("%q: %w", q, err)
				}
				return pgx.CollectRows(rows, pgx.RowTo[string])
			})
		return err
	})
	if err != nil {
		return AuditReport{}, fmt.Errorf("ledger: postgres audit: %w", err)
	}
	return rep, nil
}

// pgLanes is the number of batch lanes; see pgLedger. Measured on 2 cores
// with the set-based calls, in the same minutes (BENCHMARKS.md, Credit
// ledger): 1 lane 0.23–0.32 ms of CPU per reserve+capture pair, 2 lanes
// 0.37–0.56 ms, 3 and 4 lanes more; pairs per pgbench transaction 0.88 for
// 1 lane, 0.35–0.90 for 2. (With one call per operation 2 lanes had been
// best: 1 lane ~2,000 pairs/s, 2 lanes ~2,600, 3 ~2,250, 4 ~2,050.)
const pgLanes = 1

// userLane is the lane of a user's operations (FNV-1a of the user id).
func userLane(user string) int {
	h := uint32(2166136261)
	for i := 0; i < len(user); i++ {
		h = (h ^ uint32(user[i])) * 16777619
	}
	return int(h % pgLanes)
}

// reservationLane is the lane a Capture/Release of reservation id goes to:
// the last hex digit of the id, which Reserve chose so that it names the
// lane of the hold's user (newReservationIDInLane). An id of another shape
// gets lane 0; that is only slower (its batch may wait on, or deadlock with,
// the other lane's, and then runs again on its own), never wrong.
func reservationLane(id string) int {
	if id == "" {
		return 0
	}
	switch c := id[len(id)-1]; {
	case c >= '0' && c <= '9':
		return int(c-'0') % pgLanes
	case c >= 'a' && c <= 'f':
		return int(c-'a'+10) % pgLanes
	}
	return 0
}

// newReservationIDInLane draws reservation ids until one maps to lane
// (pgLanes draws on average; one random bit of 96 is spent on the lane).
func newReservationIDInLane(lane int) (string, error) {
	for {
		id, err := newReservationID()
		if err != nil || reservationLane(id) == lane {
			return id, err
		}
	}
}
