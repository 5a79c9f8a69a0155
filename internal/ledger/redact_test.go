package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Every form PostgreSQL takes a password in is redacted, and the rest of the
// DSN stays readable.
func TestRedactDSN(t *testing.T) {
	const pw = "S3cr3t-pw"
	tests := []struct {
		name, dsn, keep string
	}{
		{"URL user info", "postgres://app:" + pw + "@db:5432/ledger?sslmode=disable", "db:5432/ledger"},
		{"postgresql scheme", "postgresql://app:" + pw + "@db/ledger", "db/ledger"},
		{"URL-encoded user info", "postgres://app:" + strings.ReplaceAll(pw, "-", "%2D") + "@db/ledger", "db/ledger"},
		{"URL query password", "postgres://app@db/ledger?password=" + pw + "&sslmode=disable", "sslmode=disable"},
		{"URL query sslpassword", "postgres://app@db/ledger?sslpassword=" + pw, "db/ledger"},
		{"unparsable URL", "postgres://app:" + pw + "@db:notaport/ledger", "db:notaport/ledger"},
		{"password with @ in user info", "postgres://app:" + pw + "@x@db/ledger", "db/ledger"},
		{"key=value", "host=db user=app password=" + pw + " dbname=ledger", "dbname=ledger"},
		{"key=value quoted", "host=db password='" + pw + " with space' dbname=ledger", "dbname=ledger"},
		{"key=value spaced", "host=db password = " + pw + " dbname=ledger", "dbname=ledger"},
		{"key=value upper case", "host=db PASSWORD=" + pw, "host=db"},
	}
	for _, tt := range tests {
		got := RedactDSN(tt.dsn)
		if strings.Contains(got, "S3cr3t") || strings.Contains(got, "with space") || strings.Contains(got, "2Dpw") {
			t.Errorf("%s: %q redacted to %q", tt.name, tt.dsn, got)
		}
		if !strings.Contains(got, tt.keep) || !strings.Contains(got, redactedPassword) {
			t.Errorf("%s: %q redacted to %q, want %q kept and the password marked", tt.name, tt.dsn, got, tt.keep)
		}
	}
	for _, plain := range []string{".data/ledger.db", "/tmp/password/ledger.db", "postgres://app@db/ledger"} {
		if got := RedactDSN(plain); got != plain {
			t.Errorf("%q without a password changed to %q", plain, got)
		}
	}
}

// Errors that echo the DSN come back without its password, whichever form
// it was given in, and still unwrap to their cause.
func TestScrubberHidesPasswordInErrors(t *testing.T) {
	const pw = "S3cr3t-pw/+x"
	for _, dsn := range []string{
		"postgres://app:" + pw + "@db/ledger",
		"postgres://app:" + "S3cr3t-pw%2F%2Bx" + "@db/ledger",
		"postgres://app@db/ledger?password=" + "S3cr3t-pw%2F%2Bx",
		"host=db password=" + pw + " dbname=ledger",
		"host=db password='" + pw + "' dbname=ledger",
	} {
		cause := errors.New("boom")
		for _, echoed := range []string{pw, "S3cr3t-pw%2F%2Bx", "S3cr3t-pw%2F+x"} {
			err := newScrubber(dsn).scrub(fmt.Errorf("cannot use `%s` (%s): %w", dsn, echoed, cause))
			if strings.Contains(err.Error(), "S3cr3t") {
				t.Errorf("DSN %q: error %q shows the password", dsn, err)
			}
			if !errors.Is(err, cause) {
				t.Errorf("DSN %q: scrubbed error lost its cause", dsn)
			}
		}
	}
	if err := newScrubber(".data/ledger.db").scrub(errors.New("x")); err.Error() != "x" {
		t.Errorf("no password, error changed: %v", err)
	}
}

// A PostgreSQL DSN that cannot be reached or parsed fails Open without
// its password in the error, in URL and key=value form; key=value is taken
// for PostgreSQL, not for a SQLite file name.
func TestOpenErrorsHidePassword(t *testing.T) {
	const pw = "S3cr3t-open-pw"
	for _, dsn := range []string{
		"postgres://postgres:" + pw + "@127.0.0.1:1/test?sslmode=disable&connect_timeout=2",
		"host=127.0.0.1 port=1 user=postgres password=" + pw + " dbname=test sslmode=disable connect_timeout=2",
		"host=127.0.0.1 port=1 user=postgres password='" + pw + "' dbname=test sslmode=disable connect_timeout=2",
		"postgres://postgres:" + pw + "@127.0.0.1:notaport/test",
		"host=127.0.0.1 port=notaport password=" + pw,
		// An escaped quote ends pgx's own (best effort) redaction early.
		`host=127.0.0.1 port=notaport password='it\'s-` + pw + `'`,
		`host=127.0.0.1 port=1 password='it\'s-a ` + pw + `' bogus`,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		l, err := Open(ctx, Config{DSN: dsn})
		cancel()
		if err == nil {
			l.Close()
			t.Fatalf("%s: opened", RedactDSN(dsn))
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(fmt.Sprintf("%+v %#v", err, err.Error()), pw) {
			t.Errorf("Open(%s) error shows the password: %v", RedactDSN(dsn), err)
		}
		if strings.Contains(err.Error(), "sqlite") {
			t.Errorf("Open(%s) took the DSN for a SQLite path: %v", RedactDSN(dsn), err)
		}
	}
}
