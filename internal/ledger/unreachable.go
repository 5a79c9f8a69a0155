package ledger

import (
	"errors"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Unreachable reports whether err means the database could not be reached
// or was busy, so that the same call may succeed later: a PostgreSQL
// connection refused, timed out or cut, or a SQLite file locked by another
// process past the busy timeout. A bad DSN, a failed migration or a
// refusal by the ledger's rules is not.
func Unreachable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	var se *sqlite.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne):
		return true
	case errors.As(err, &se):
		code := se.Code() & 0xff // the primary result code
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}
