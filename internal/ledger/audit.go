package ledger

import "context"

// auditChecks are the ledger invariants (CONTRACT.md#ledger-audit) as queries
// that return one text column per violation. They use only SQL common to SQLite and PostgreSQL.
var auditChecks = []string{
	// Double entry: every transaction sums to zero.
	`SELECT 'journal tx ' || tx_id || ' sums to ' || SUM(amount)
	   FROM journal_entries GROUP BY tx_id HAVING SUM(amount) <> 0`,
	// Materialised balances equal the journal.
	`SELECT 'account ' || a.name || ' balance ' || a.balance || ' but journal says ' || COALESCE(e.s, 0)
	   FROM accounts a LEFT JOIN (SELECT account, SUM(amount) AS s FROM journal_entries GROUP BY account) e
	     ON e.account = a.name
	  WHERE a.balance <> COALESCE(e.s, 0)`,
	`SELECT 'journal entry for unknown account ' || e.account
	   FROM journal_entries e LEFT JOIN accounts a ON a.name = e.account
	  WHERE a.name IS NULL GROUP BY e.account`,
	`SELECT 'journal entry for unknown transaction ' || e.tx_id
	   FROM journal_entries e LEFT JOIN journal_tx t ON t.id = e.tx_id
	  WHERE t.id IS NULL GROUP BY e.tx_id`,
	// Only funding may be negative; money is conserved.
	`SELECT 'account ' || name || ' is negative: ' || balance
	   FROM accounts WHERE kind <> 'funding' AND balance < 0`,
	`SELECT 'money not conserved: balances sum to ' || SUM(balance)
	   FROM accounts HAVING SUM(balance) <> 0`,
	// Holds split exactly their amount, once.
	`SELECT 'hold ' || id || ' (' || status || ') amount ' || amount || ' captured ' || captured || ' returned ' || returned
	   FROM reservations
	  WHERE captured > amount
	     OR (status = 'active' AND (captured <> 0 OR returned <> 0))
	     OR (status = 'captured' AND captured + returned <> amount)
	     OR (status IN ('released', 'expired') AND (captured <> 0 OR returned <> amount))`,
	`SELECT 'hold ' || r.id || ' held entries sum to ' || SUM(e.amount)
	   FROM reservations r
	   JOIN journal_tx t ON t.reservation_id = r.id
	   JOIN journal_entries e ON e.tx_id = t.id AND e.account = 'user:' || r.user_id || ':held'
	  GROUP BY r.id, r.status, r.amount
	 HAVING SUM(e.amount) <> CASE WHEN r.status = 'active' THEN r.amount ELSE 0 END`,
	`SELECT 'hold ' || reservation_id || ' has ' || COUNT(*) || ' journal transactions'
	   FROM journal_tx WHERE reservation_id IS NOT NULL
	  GROUP BY reservation_id HAVING COUNT(*) > 2 OR SUM(CASE WHEN kind = 'reserve' THEN 1 ELSE 0 END) <> 1`,
	`SELECT 'hold ' || r.id || ' (' || r.status || ') has no resolving transaction'
	   FROM reservations r
	  WHERE r.status <> 'active'
	    AND NOT EXISTS (SELECT 1 FROM journal_tx t WHERE t.reservation_id = r.id AND t.kind <> 'reserve')`,
	// Each idempotency key has exactly one effect.
	`SELECT 'idempotency key ' || i.key || ' has ' || COUNT(t.id) || ' journal transactions'
	   FROM idempotency i LEFT JOIN journal_tx t ON t.idempotency_key = i.key
	  GROUP BY i.key HAVING COUNT(t.id) <> 1`,
	`SELECT 'journal tx ' || t.id || ' has key ' || t.idempotency_key || ' with no idempotency record'
	   FROM journal_tx t LEFT JOIN idempotency i ON i.key = t.idempotency_key
	  WHERE t.idempotency_key IS NOT NULL AND i.key IS NULL`,
}

const auditCounts = `SELECT
	(SELECT COUNT(*) FROM journal_tx),
	(SELECT COUNT(*) FROM journal_entries),
	(SELECT COUNT(*) FROM accounts),
	(SELECT COUNT(*) FROM reservations)`

// runAudit runs the checks through a backend's query function.
func runAudit(ctx context.Context, counts func(ctx context.Context, q string, dst ...*int) error,
	texts func(ctx context.Context, q string) ([]string, error)) (AuditReport, error) {
	var r AuditReport
	if err := counts(ctx, auditCounts, &r.Transactions, &r.Entries, &r.Accounts, &r.Reservations); err != nil {
		return r, err
	}
	for _, q := range auditChecks {
		v, err := texts(ctx, q)
		if err != nil {
			return r, err
		}
		r.Violations = append(r.Violations, v...)
	}
	return r, nil
}
