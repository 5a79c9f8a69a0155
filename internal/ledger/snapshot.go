package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Snapshot is the ledger's whole state at one instant, read-only, for
// checks that run after the fact (the chaos suite's invariants,
// internal/chaoscheck). It holds every row the invariants need; it is not
// meant for a ledger in production use (it reads every table in full).
type Snapshot struct {
	Accounts     []SnapshotAccount `json:"accounts"`
	Transactions []SnapshotTx      `json:"transactions"`
	Reservations []Reservation     `json:"reservations"`
	// IdempotencyKeys are the keys that recorded an effect, with their op.
	IdempotencyKeys []SnapshotKey `json:"idempotencyKeys"`
	Claims          []JobClaim    `json:"claims"`
}

// SnapshotAccount is one account row.
type SnapshotAccount struct {
	Name    string `json:"name"`
	UserID  string `json:"userId,omitempty"` // "" for funding
	Kind    string `json:"kind"`             // available, held, spent or funding
	Balance int64  `json:"balance"`
}

// SnapshotTx is one journal transaction with its entries.
type SnapshotTx struct {
	ID             int64           `json:"id"`
	Kind           string          `json:"kind"` // credit, reserve, capture, release, expire
	ReservationID  string          `json:"reservationId,omitempty"`
	IdempotencyKey string          `json:"idempotencyKey,omitempty"`
	Entries        []SnapshotEntry `json:"entries"`
}

// SnapshotEntry is one journal entry.
type SnapshotEntry struct {
	Account string `json:"account"`
	Amount  int64  `json:"amount"`
}

// SnapshotKey is one idempotency record.
type SnapshotKey struct {
	Key string `json:"key"`
	Op  string `json:"op"`
}

// JobClaim is one job claim (ClaimJob).
type JobClaim struct {
	JobID string `json:"jobId"`
	RunID string `json:"runId"`
}

// Snapshotter is implemented by both backends; ReadSnapshot uses it.
type Snapshotter interface {
	Snapshot(ctx context.Context) (Snapshot, error)
}

// ErrNoSnapshot is returned by ReadSnapshot for a Ledger that cannot
// snapshot itself (a test double, a wrapper).
var ErrNoSnapshot = errors.New("ledger: this ledger cannot take a snapshot")

// ReadSnapshot reads l's whole state in one read-only transaction.
func ReadSnapshot(ctx context.Context, l Ledger) (Snapshot, error) {
	s, ok := l.(Snapshotter)
	if !ok {
		return Snapshot{}, ErrNoSnapshot
	}
	return s.Snapshot(ctx)
}

// The snapshot's queries, common to SQLite and PostgreSQL. Entries are
// ordered by transaction so they are grouped in one pass.
const (
	snapAccounts = `SELECT name, COALESCE(user_id, ''), kind, balance FROM accounts ORDER BY name`
	snapTx       = `SELECT id, kind, COALESCE(reservation_id, ''), COALESCE(idempotency_key, '') FROM journal_tx ORDER BY id`
	snapEntries  = `SELECT tx_id, account, amount FROM journal_entries ORDER BY tx_id, account`
	snapRes      = `SELECT ` + sqlResCols + ` FROM reservations ORDER BY created_at, id`
	snapKeys     = `SELECT key, op FROM idempotency ORDER BY key`
	snapClaims   = `SELECT job_id, run_id FROM job_claims ORDER BY job_id`
)

// snapQuery runs q and calls row for each result row.
type snapQuery func(ctx context.Context, q string, row func(rowScanner) error) error

func runSnapshot(ctx context.Context, query snapQuery) (Snapshot, error) {
	var s Snapshot
	if err := query(ctx, snapAccounts, func(r rowScanner) error {
		var a SnapshotAccount
		if err := r.Scan(&a.Name, &a.UserID, &a.Kind, &a.Balance); err != nil {
			return err
		}
		s.Accounts = append(s.Accounts, a)
		return nil
	}); err != nil {
		return s, err
	}
	byID := map[int64]int{}
	if err := query(ctx, snapTx, func(r rowScanner) error {
		var t SnapshotTx
		if err := r.Scan(&t.ID, &t.Kind, &t.ReservationID, &t.IdempotencyKey); err != nil {
			return err
		}
		byID[t.ID] = len(s.Transactions)
		s.Transactions = append(s.Transactions, t)
		return nil
	}); err != nil {
		return s, err
	}
	if err := query(ctx, snapEntries, func(r rowScanner) error {
		var id int64
		var e SnapshotEntry
		if err := r.Scan(&id, &e.Account, &e.Amount); err != nil {
			return err
		}
		i, ok := byID[id]
		if !ok { // an entry of no transaction: keep it visible to the checks
			byID[id] = len(s.Transactions)
			s.Transactions = append(s.Transactions, SnapshotTx{ID: id, Kind: "unknown"})
			i = byID[id]
		}
		s.Transactions[i].Entries = append(s.Transactions[i].Entries, e)
		return nil
	}); err != nil {
		return s, err
	}
	if err := query(ctx, snapRes, func(r rowScanner) error {
		res, err := scanReservation(r)
		if err != nil {
			return err
		}
		s.Reservations = append(s.Reservations, res)
		return nil
	}); err != nil {
		return s, err
	}
	if err := query(ctx, snapKeys, func(r rowScanner) error {
		var k SnapshotKey
		if err := r.Scan(&k.Key, &k.Op); err != nil {
			return err
		}
		s.IdempotencyKeys = append(s.IdempotencyKeys, k)
		return nil
	}); err != nil {
		return s, err
	}
	err := query(ctx, snapClaims, func(r rowScanner) error {
		var c JobClaim
		if err := r.Scan(&c.JobID, &c.RunID); err != nil {
			return err
		}
		s.Claims = append(s.Claims, c)
		return nil
	})
	return s, err
}

// Snapshot reads the whole ledger in one read transaction (WAL gives it a
// consistent view while writers go on).
func (l *sqliteLedger) Snapshot(ctx context.Context) (Snapshot, error) {
	tx, err := l.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Snapshot{}, fmt.Errorf("ledger: snapshot: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	s, err := runSnapshot(ctx, func(ctx context.Context, q string, row func(rowScanner) error) error {
		rows, err := tx.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := row(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return Snapshot{}, fmt.Errorf("ledger: snapshot: %w", err)
	}
	return s, nil
}

// Snapshot reads the whole ledger in one repeatable-read, read-only
// transaction.
func (l *pgLedger) Snapshot(ctx context.Context) (Snapshot, error) {
	var s Snapshot
	err := l.with(ctx, func(c *pgx.Conn) error {
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck // read-only
		s, err = runSnapshot(ctx, func(ctx context.Context, q string, row func(rowScanner) error) error {
			rows, err := tx.Query(ctx, q)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if err := row(rows); err != nil {
					return err
				}
			}
			return rows.Err()
		})
		return err
	})
	if err != nil {
		return Snapshot{}, fmt.Errorf("ledger: postgres snapshot: %w", err)
	}
	return s, nil
}
