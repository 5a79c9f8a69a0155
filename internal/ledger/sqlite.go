package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// sqliteLedger is the embedded backend. SQLite has a single writer, so all
// writes go through one connection (w): ledger operations queue in the group
// commit batcher (sqlite_commit.go) instead of spinning on SQLITE_BUSY, and
// each write transaction is BEGIN IMMEDIATE so another process sharing the
// file waits (busy_timeout) rather than failing a lock upgrade. Reads use a
// separate pool (r) that WAL lets run beside the writer.
type sqliteLedger struct {
	w, r *sql.DB
	cat  catalog
	now  func() time.Time
	st   sqliteStmts
	gc   *batcher[sqliteWrite]
}

type sqliteStmts struct {
	idemGet, idemPut               *sql.Stmt
	txInsert, accountNew           *sql.Stmt
	accountsAdd, entries           [3]*sql.Stmt // indexed by number of entries - 1
	balanceOf                      *sql.Stmt
	resInsert, resGet, resResolve  *sql.Stmt
	expiredHolds                   *sql.Stmt
	savepoint, release, rollbackTo *sql.Stmt
}

const (
	sqlIdemGet  = `SELECT op, fingerprint, result FROM idempotency WHERE key = ?`
	sqlIdemPut  = `INSERT INTO idempotency (key, op, fingerprint, result, created_at) VALUES (?, ?, ?, ?, ?)`
	sqlTxInsert = `INSERT INTO journal_tx (kind, reservation_id, idempotency_key, created_at) VALUES (?, ?, ?, ?) RETURNING id`
	// Not an upsert: SQLite checks the CHECK constraint on the candidate row
	// before ON CONFLICT, so a debit could never upsert an existing account.
	sqlAccNew    = `INSERT INTO accounts (name, user_id, kind, balance) VALUES (?, ?, ?, ?)`
	sqlBalanceOf = `SELECT balance FROM accounts WHERE name = ?`
	sqlResCols   = `id, user_id, model_id, prompt_tokens, max_tokens, amount, prompt_per_1k, completion_per_1k,
	                max_completion_tokens, status, captured, returned, created_at, expires_at, resolved_at`
	sqlResInsert  = `INSERT INTO reservations (` + sqlResCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlResGet     = `SELECT ` + sqlResCols + ` FROM reservations WHERE id = ?`
	sqlResResolve = `UPDATE reservations SET status = ?, captured = ?, returned = ?, resolved_at = ?
	                 WHERE id = ? AND status = 'active'`
	sqlExpired = `SELECT ` + sqlResCols + ` FROM reservations
	              WHERE status = 'active' AND expires_at <= ? ORDER BY expires_at LIMIT 256`
)

// sqlAccountsAdd adds amounts to n accounts in one statement; args are
// (name, amount) pairs then the n names.
func sqlAccountsAdd(n int) string {
	q := `UPDATE accounts SET balance = balance + CASE name`
	q += strings.Repeat(` WHEN ? THEN ?`, n)
	return q + ` END WHERE name IN (?` + strings.Repeat(`, ?`, n-1) + `)`
}

func sqlEntries(n int) string {
	return `INSERT INTO journal_entries (tx_id, account, amount) VALUES (?, ?, ?)` + strings.Repeat(`, (?, ?, ?)`, n-1)
}

func sqliteDSN(path string, write bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL in WAL mode: a commit is durable against application crashes and
	// the file never corrupts; only an OS crash / power loss can drop the last
	// commits (fsync happens at checkpoints).
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	if write {
		q.Set("_txlock", "immediate")
		// Group commit runs each request in a SAVEPOINT; keep the savepoint
		// journal in memory instead of a temp file written page by page.
		q.Add("_pragma", "temp_store(MEMORY)")
	} else {
		q.Add("_pragma", "query_only(ON)")
	}
	return "file:" + path + "?" + q.Encode()
}

func openSQLite(ctx context.Context, cfg Config, cat catalog) (Ledger, error) {
	path := strings.TrimPrefix(cfg.DSN, "sqlite://")
	if path == "" || path == ":memory:" || strings.Contains(path, "mode=memory") {
		return nil, fmt.Errorf("ledger: sqlite needs a file path, got %q (in-memory databases are per-connection)", cfg.DSN)
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("ledger: sqlite path %q must not contain '?' or '#'", path)
	}
	w, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		return nil, fmt.Errorf("ledger: open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	l := &sqliteLedger{w: w, cat: cat, now: cfg.Now}
	l.gc = newBatcher(maxBatch, 1, l.runBatch)
	// Migrate before opening readers: query_only readers cannot set WAL mode
	// on a fresh file. Savepoint statements first: migrations are batched too.
	if err := l.prepare(ctx, []stmtDef{
		{&l.st.savepoint, `SAVEPOINT op`}, {&l.st.release, `RELEASE op`}, {&l.st.rollbackTo, `ROLLBACK TO op`},
	}); err != nil {
		w.Close()
		return nil, err
	}
	if err := l.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("ledger: open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(cfg.MaxConns)
	r.SetMaxIdleConns(cfg.MaxConns)
	l.r = r
	if err := l.prepare(ctx, []stmtDef{
		{&l.st.idemGet, sqlIdemGet}, {&l.st.idemPut, sqlIdemPut},
		{&l.st.txInsert, sqlTxInsert}, {&l.st.accountNew, sqlAccNew},
		{&l.st.accountsAdd[0], sqlAccountsAdd(1)}, {&l.st.accountsAdd[1], sqlAccountsAdd(2)}, {&l.st.accountsAdd[2], sqlAccountsAdd(3)},
		{&l.st.entries[0], sqlEntries(1)}, {&l.st.entries[1], sqlEntries(2)}, {&l.st.entries[2], sqlEntries(3)},
		{&l.st.balanceOf, sqlBalanceOf},
		{&l.st.resInsert, sqlResInsert}, {&l.st.resGet, sqlResGet}, {&l.st.resResolve, sqlResResolve},
		{&l.st.expiredHolds, sqlExpired},
	}); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *sqliteLedger) migrate(ctx context.Context) error {
	migs, err := loadMigrations("sqlite")
	if err != nil {
		return err
	}
	return l.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("ledger: migrate: %w", err)
		}
		var cur int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
			return fmt.Errorf("ledger: migrate: %w", err)
		}
		for _, m := range migs {
			if m.version <= cur {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("ledger: migration %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, micros(time.Now())); err != nil {
				return fmt.Errorf("ledger: migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}

type stmtDef struct {
	dst **sql.Stmt
	q   string
}

func (l *sqliteLedger) prepare(ctx context.Context, defs []stmtDef) error {
	for _, d := range defs {
		s, err := l.w.PrepareContext(ctx, d.q)
		if err != nil {
			return fmt.Errorf("ledger: prepare %q: %w", d.q, err)
		}
		*d.dst = s
	}
	return nil
}

func (l *sqliteLedger) Close() error {
	var errs []error
	if l.r != nil {
		errs = append(errs, l.r.Close())
	}
	errs = append(errs, l.w.Close()) // closes the prepared statements too
	return errors.Join(errs...)
}

func (l *sqliteLedger) Catalog() []Model { return catalogList(l.cat) }

// idemGet returns the stored first result for key, ok=false if the key is new,
// or an *IdempotencyConflictError if it was used with other parameters.
func (l *sqliteLedger) idemGet(ctx context.Context, tx *sql.Tx, key, fp string) (string, bool, error) {
	var op, storedFP, result string
	err := tx.StmtContext(ctx, l.st.idemGet).QueryRowContext(ctx, key).Scan(&op, &storedFP, &result)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("ledger: idempotency lookup: %w", err)
	}
	if storedFP != fp {
		return "", false, &IdempotencyConflictError{Key: key, Op: op}
	}
	return result, true, nil
}

func (l *sqliteLedger) idemPut(ctx context.Context, tx *sql.Tx, key, op, fp string, result any, now int64) error {
	js, err := toJSON(result)
	if err != nil {
		return err
	}
	if _, err := tx.StmtContext(ctx, l.st.idemPut).ExecContext(ctx, key, op, fp, js, now); err != nil {
		return fmt.Errorf("ledger: idempotency record: %w", err)
	}
	return nil
}

// post appends one balanced journal transaction and applies it to the
// materialised balances. Zero entries are skipped.
func (l *sqliteLedger) post(ctx context.Context, tx *sql.Tx, kind string, resID, key *string, now int64, es ...entry) error {
	var sum int64
	for _, e := range es {
		sum += e.amount
	}
	if sum != 0 {
		return fmt.Errorf("ledger: internal error: %s transaction unbalanced by %d", kind, sum)
	}
	var txID int64
	if err := tx.StmtContext(ctx, l.st.txInsert).QueryRowContext(ctx, kind, resID, key, now).Scan(&txID); err != nil {
		return fmt.Errorf("ledger: journal %s: %w", kind, err)
	}
	var nz []entry
	for _, e := range sortedEntries(es) {
		if e.amount != 0 {
			nz = append(nz, e)
		}
	}
	if len(nz) == 0 {
		return nil
	}
	if len(nz) > len(l.st.entries) {
		return fmt.Errorf("ledger: internal error: %s transaction has %d entries", kind, len(nz))
	}
	// One statement for the balances and one for the entries (fewer
	// statements is most of what makes the single writer fast).
	upd := make([]any, 0, 4*len(nz))
	ins := make([]any, 0, 3*len(nz))
	for _, e := range nz {
		upd = append(upd, e.account, e.amount)
		ins = append(ins, txID, e.account, e.amount)
	}
	for _, e := range nz {
		upd = append(upd, e.account)
	}
	res, err := tx.StmtContext(ctx, l.st.accountsAdd[len(nz)-1]).ExecContext(ctx, upd...)
	if err != nil {
		return fmt.Errorf("ledger: journal %s: balances: %w", kind, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("ledger: journal %s: balances: %w", kind, err)
	} else if int(n) < len(nz) {
		// First use of an account: create the ones the UPDATE did not find.
		for _, e := range nz {
			if err := l.createAccount(ctx, tx, e); err != nil {
				return fmt.Errorf("ledger: journal %s: account %s: %w", kind, e.account, err)
			}
		}
	}
	if _, err := tx.StmtContext(ctx, l.st.entries[len(nz)-1]).ExecContext(ctx, ins...); err != nil {
		return fmt.Errorf("ledger: journal %s: entries: %w", kind, err)
	}
	return nil
}

// createAccount inserts e's account with e's amount unless it exists.
func (l *sqliteLedger) createAccount(ctx context.Context, tx *sql.Tx, e entry) error {
	var bal int64
	err := tx.StmtContext(ctx, l.st.balanceOf).QueryRowContext(ctx, e.account).Scan(&bal)
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var user any
	if e.user != "" {
		user = e.user
	}
	_, err = tx.StmtContext(ctx, l.st.accountNew).ExecContext(ctx, e.account, user, e.kind, e.amount)
	return err
}

func (l *sqliteLedger) Credit(ctx context.Context, userID string, amount int64, key string) error {
	if err := validateCredit(userID, amount, key); err != nil {
		return err
	}
	fp := fpCredit(userID, amount)
	return l.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, ok, err := l.idemGet(ctx, tx, key, fp); err != nil || ok {
			return err
		}
		now := micros(l.now())
		if err := l.post(ctx, tx, opCredit, nil, &key, now,
			entry{accountFunding, "", "funding", -amount},
			entry{accAvailable(userID), userID, "available", amount}); err != nil {
			return err
		}
		return l.idemPut(ctx, tx, key, opCredit, fp, struct{}{}, now)
	})
}

func (l *sqliteLedger) Balance(ctx context.Context, userID string) (Balance, error) {
	if err := checkID("userID", userID); err != nil {
		return Balance{}, err
	}
	rows, err := l.r.QueryContext(ctx, `SELECT kind, balance FROM accounts WHERE name IN (?, ?, ?)`,
		accAvailable(userID), accHeld(userID), accSpent(userID))
	if err != nil {
		return Balance{}, fmt.Errorf("ledger: balance: %w", err)
	}
	var b Balance
	var kind string
	var v int64
	if err := forEachRow(rows, []any{&kind, &v}, func() error { b.set(kind, v); return nil }); err != nil {
		return Balance{}, fmt.Errorf("ledger: balance: %w", err)
	}
	return b, nil
}

func (b *Balance) set(kind string, v int64) {
	switch kind {
	case "available":
		b.Available = v
	case "held":
		b.Held = v
	case "spent":
		b.Spent = v
	}
}

func (l *sqliteLedger) Reserve(ctx context.Context, req ReserveRequest) (Reservation, error) {
	if err := validateReserve(&req); err != nil {
		return Reservation{}, err
	}
	fp := fpReserve(req)
	id, err := newReservationID()
	if err != nil {
		return Reservation{}, err
	}
	var out Reservation
	err = l.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if first, ok, err := l.idemGet(ctx, tx, req.IdempotencyKey, fp); err != nil {
			return err
		} else if ok {
			return decodeResult(first, &out)
		}
		m, err := l.cat.lookup(req.ModelID)
		if err != nil {
			return err
		}
		amount := ExpectedCost(m, req.PromptTokens)
		var avail int64
		err = tx.StmtContext(ctx, l.st.balanceOf).QueryRowContext(ctx, accAvailable(req.UserID)).Scan(&avail)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("ledger: reserve: balance: %w", err)
		}
		if avail < amount {
			return reject(ReasonInsufficientCredits, "user %q has %d available, hold needs %d", req.UserID, avail, amount)
		}
		now := l.now()
		out = Reservation{
			ID: id, UserID: req.UserID, ModelID: m.ID, PromptTokens: req.PromptTokens,
			MaxTokens: req.PromptTokens + m.MaxCompletionTokens, Amount: amount,
			PromptPer1K: m.PromptPer1K, CompletionPer1K: m.CompletionPer1K, MaxCompletionTokens: m.MaxCompletionTokens,
			Status: HoldActive, CreatedAt: fromMicros(micros(now)), ExpiresAt: fromMicros(micros(now.Add(req.TTL))),
		}
		if _, err := tx.StmtContext(ctx, l.st.resInsert).ExecContext(ctx, out.ID, out.UserID, out.ModelID,
			out.PromptTokens, out.MaxTokens, out.Amount, out.PromptPer1K, out.CompletionPer1K, out.MaxCompletionTokens,
			string(out.Status), 0, 0, micros(out.CreatedAt), micros(out.ExpiresAt), 0); err != nil {
			return fmt.Errorf("ledger: reserve: insert hold: %w", err)
		}
		if err := l.post(ctx, tx, opReserve, &out.ID, &req.IdempotencyKey, micros(now),
			entry{accAvailable(req.UserID), req.UserID, "available", -amount},
			entry{accHeld(req.UserID), req.UserID, "held", amount}); err != nil {
			return err
		}
		return l.idemPut(ctx, tx, req.IdempotencyKey, opReserve, fp, out, micros(now))
	})
	if err != nil {
		return Reservation{}, err
	}
	return out, nil
}

func decodeResult(js string, dst any) error {
	if err := json.Unmarshal([]byte(js), dst); err != nil {
		return fmt.Errorf("ledger: decode stored result: %w", err)
	}
	return nil
}

func scanReservation(row rowScanner) (Reservation, error) {
	var r Reservation
	var status string
	var created, expires, resolved int64
	err := row.Scan(&r.ID, &r.UserID, &r.ModelID, &r.PromptTokens, &r.MaxTokens, &r.Amount, &r.PromptPer1K,
		&r.CompletionPer1K, &r.MaxCompletionTokens, &status, &r.Captured, &r.Returned, &created, &expires, &resolved)
	if err != nil {
		return Reservation{}, err
	}
	r.Status = HoldStatus(status)
	r.CreatedAt, r.ExpiresAt, r.ResolvedAt = fromMicros(created), fromMicros(expires), fromMicros(resolved)
	return r, nil
}

// activeHold loads a hold for Capture/Release and enforces resolve-once. An
// active hold past its TTL is expired here (credits returned, committed) and
// the request rejected, exactly as if the sweep had run first.
func (l *sqliteLedger) activeHold(ctx context.Context, tx *sql.Tx, id string, now time.Time) (Reservation, error) {
	r, err := scanReservation(tx.StmtContext(ctx, l.st.resGet).QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Reservation{}, reject(ReasonReservationNotFound, "reservation %q does not exist", id)
	}
	if err != nil {
		return Reservation{}, fmt.Errorf("ledger: load hold %s: %w", id, err)
	}
	if err := holdStateError(r, now); err != nil {
		if r.Status == HoldActive {
			if xerr := l.expireOne(ctx, tx, r, now); xerr != nil {
				return Reservation{}, xerr
			}
			return Reservation{}, commitThen{err}
		}
		return Reservation{}, err
	}
	return r, nil
}

// holdStateError is the resolve-once rule shared by both backends' callers.
func holdStateError(r Reservation, now time.Time) error {
	switch r.Status {
	case HoldActive:
		if !now.Before(r.ExpiresAt) {
			return reject(ReasonHoldExpired, "reservation %q expired at %s", r.ID, r.ExpiresAt.Format(time.RFC3339Nano))
		}
		return nil
	case HoldExpired:
		return reject(ReasonHoldExpired, "reservation %q expired at %s", r.ID, r.ExpiresAt.Format(time.RFC3339Nano))
	default:
		return reject(ReasonHoldNotActive, "reservation %q is already %s", r.ID, r.Status)
	}
}

func (l *sqliteLedger) resolve(ctx context.Context, tx *sql.Tx, r Reservation, status HoldStatus, captured, returned int64, now time.Time) error {
	res, err := tx.StmtContext(ctx, l.st.resResolve).ExecContext(ctx, string(status), captured, returned, micros(now), r.ID)
	if err != nil {
		return fmt.Errorf("ledger: resolve hold %s: %w", r.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("ledger: resolve hold %s: %d rows changed (%v)", r.ID, n, err)
	}
	return nil
}

func (l *sqliteLedger) expireOne(ctx context.Context, tx *sql.Tx, r Reservation, now time.Time) error {
	if err := l.resolve(ctx, tx, r, HoldExpired, 0, r.Amount, now); err != nil {
		return err
	}
	return l.post(ctx, tx, "expire", &r.ID, nil, micros(now),
		entry{accHeld(r.UserID), r.UserID, "held", -r.Amount},
		entry{accAvailable(r.UserID), r.UserID, "available", r.Amount})
}

func (l *sqliteLedger) Capture(ctx context.Context, req CaptureRequest) (CaptureResult, error) {
	if err := checkID("reservationID", req.ReservationID); err != nil {
		return CaptureResult{}, err
	}
	if err := checkID("idempotency key", req.IdempotencyKey); err != nil {
		return CaptureResult{}, err
	}
	if err := validateUsage(req.Usage); err != nil {
		return CaptureResult{}, err
	}
	fp := fpCapture(req)
	var out CaptureResult
	err := l.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if first, ok, err := l.idemGet(ctx, tx, req.IdempotencyKey, fp); err != nil {
			return err
		} else if ok {
			return decodeResult(first, &out)
		}
		now := l.now()
		r, err := l.activeHold(ctx, tx, req.ReservationID, now)
		if err != nil {
			return err
		}
		charged, returned, err := settle(r, req.Usage)
		if err != nil {
			return err
		}
		if err := l.resolve(ctx, tx, r, HoldCaptured, charged, returned, now); err != nil {
			return err
		}
		if err := l.post(ctx, tx, opCapture, &r.ID, &req.IdempotencyKey, micros(now),
			entry{accHeld(r.UserID), r.UserID, "held", -r.Amount},
			entry{accSpent(r.UserID), r.UserID, "spent", charged},
			entry{accAvailable(r.UserID), r.UserID, "available", returned}); err != nil {
			return err
		}
		out = CaptureResult{ReservationID: r.ID, Usage: req.Usage, Charged: charged, Returned: returned,
			CapturedAt: fromMicros(micros(now))}
		return l.idemPut(ctx, tx, req.IdempotencyKey, opCapture, fp, out, micros(now))
	})
	if err != nil {
		return CaptureResult{}, err
	}
	return out, nil
}

// settle prices usage at the hold's locked price. The charge is capped at
// the hold: usage within MaxTokens can still cost more than the estimate when
// the prompt ran over it and prompt tokens are the dearer ones.
func settle(r Reservation, u Usage) (charged, returned int64, err error) {
	if u.TotalTokens > r.MaxTokens {
		return 0, 0, reject(ReasonUsageExceedsReservation, "usage %d tokens exceeds reservation %q max %d",
			u.TotalTokens, r.ID, r.MaxTokens)
	}
	charged = min(costAt(r.PromptPer1K, r.CompletionPer1K, u.PromptTokens, u.CompletionTokens), r.Amount)
	return charged, r.Amount - charged, nil
}

func (l *sqliteLedger) Release(ctx context.Context, req ReleaseRequest) (ReleaseResult, error) {
	if err := checkID("reservationID", req.ReservationID); err != nil {
		return ReleaseResult{}, err
	}
	if err := checkID("idempotency key", req.IdempotencyKey); err != nil {
		return ReleaseResult{}, err
	}
	fp := fpRelease(req)
	var out ReleaseResult
	err := l.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if first, ok, err := l.idemGet(ctx, tx, req.IdempotencyKey, fp); err != nil {
			return err
		} else if ok {
			return decodeResult(first, &out)
		}
		now := l.now()
		r, err := l.activeHold(ctx, tx, req.ReservationID, now)
		if err != nil {
			return err
		}
		if err := l.resolve(ctx, tx, r, HoldReleased, 0, r.Amount, now); err != nil {
			return err
		}
		if err := l.post(ctx, tx, opRelease, &r.ID, &req.IdempotencyKey, micros(now),
			entry{accHeld(r.UserID), r.UserID, "held", -r.Amount},
			entry{accAvailable(r.UserID), r.UserID, "available", r.Amount}); err != nil {
			return err
		}
		out = ReleaseResult{ReservationID: r.ID, Returned: r.Amount, ReleasedAt: fromMicros(micros(now))}
		return l.idemPut(ctx, tx, req.IdempotencyKey, opRelease, fp, out, micros(now))
	})
	if err != nil {
		return ReleaseResult{}, err
	}
	return out, nil
}

func (l *sqliteLedger) ExpireHolds(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n := 0
		// Batches keep each write transaction (and the writer lock) short.
		err := l.writeTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			rows, err := tx.StmtContext(ctx, l.st.expiredHolds).QueryContext(ctx, micros(now))
			if err != nil {
				return fmt.Errorf("ledger: expire: %w", err)
			}
			due, err := collectRows(rows, scanReservation)
			if err != nil {
				return fmt.Errorf("ledger: expire: %w", err)
			}
			for _, r := range due {
				if err := l.expireOne(ctx, tx, r, now); err != nil {
					return err
				}
			}
			n = len(due)
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < 256 {
			return total, nil
		}
	}
}

func (l *sqliteLedger) Holds(ctx context.Context, userID string) ([]Reservation, error) {
	if err := checkID("userID", userID); err != nil {
		return nil, err
	}
	rows, err := l.r.QueryContext(ctx, `SELECT `+sqlResCols+` FROM reservations WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("ledger: holds: %w", err)
	}
	out, err := collectRows(rows, scanReservation)
	if err != nil {
		return nil, fmt.Errorf("ledger: holds: %w", err)
	}
	return out, nil
}

func (l *sqliteLedger) Reservation(ctx context.Context, id string) (Reservation, error) {
	if err := checkID("reservationID", id); err != nil {
		return Reservation{}, err
	}
	r, err := scanReservation(l.r.QueryRowContext(ctx, sqlResGet, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Reservation{}, reject(ReasonReservationNotFound, "reservation %q does not exist", id)
	}
	if err != nil {
		return Reservation{}, fmt.Errorf("ledger: reservation %s: %w", id, err)
	}
	return r, nil
}

func (l *sqliteLedger) Audit(ctx context.Context) (AuditReport, error) {
	// One read transaction: WAL gives it a consistent snapshot.
	tx, err := l.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return AuditReport{}, fmt.Errorf("ledger: audit: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	return runAudit(ctx,
		func(ctx context.Context, q string, dst ...*int) error {
			args := make([]any, len(dst))
			for i := range dst {
				args[i] = dst[i]
			}
			if err := tx.QueryRowContext(ctx, q).Scan(args...); err != nil {
				return fmt.Errorf("ledger: audit: %w", err)
			}
			return nil
		},
		func(ctx context.Context, q string) ([]string, error) {
			rows, err := tx.QueryContext(ctx, q)
			if err != nil {
				return nil, fmt.Errorf("ledger: audit %q: %w", q, err)
			}
			out, err := collectRows(rows, scanString)
			if err != nil {
				return nil, fmt.Errorf("ledger: audit: %w", err)
			}
			return out, nil
		})
}
