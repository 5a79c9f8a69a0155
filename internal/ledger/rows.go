package ledger

import "database/sql"

// rowScanner is one result row: *sql.Row, *sql.Rows, pgx.Row and
// pgx.CollectableRow all satisfy it, so scanReservation and scanDLQ serve
// both backends.
type rowScanner interface{ Scan(dest ...any) error }

// collectRows is pgx.AppendRows(nil, ...) for database/sql: it scans every
// row with scan and closes rows. No rows gives a nil slice, as in the
// PostgreSQL backend.
func collectRows[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// forEachRow is pgx.ForEachRow for database/sql: it scans each row into
// scans, calls fn, and closes rows.
func forEachRow(rows *sql.Rows, scans []any, fn func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(scans...); err != nil {
			return err
		}
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}

// scanString reads a one-column text row.
func scanString(row rowScanner) (string, error) {
	var s string
	err := row.Scan(&s)
	return s, err
}
