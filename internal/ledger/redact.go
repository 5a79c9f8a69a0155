package ledger

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// redactedPassword replaces a password wherever a DSN is shown.
const redactedPassword = "xxxxx"

// The key=value forms of a password: password='...' (quotes escaped by
// backslash) or password=word; also sslpassword (a client key's passphrase).
var kvPassword = regexp.MustCompile(`(?i)\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]*)`)

// RedactDSN is dsn fit to be logged or shown: a PostgreSQL password is
// replaced, in each form PostgreSQL takes one — the URL's user info, the
// URL's password= and sslpassword= query parameters, and key=value
// (quoted or not). A SQLite path has none and comes back as it is.
func RedactDSN(dsn string) string {
	if isPostgresURL(dsn) {
		if u, err := url.Parse(dsn); err == nil {
			if u.User != nil {
				if _, has := u.User.Password(); has {
					u.User = url.UserPassword(u.User.Username(), redactedPassword)
				}
			}
			q := u.Query()
			for k := range q {
				if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
					q.Set(k, redactedPassword)
				}
			}
			u.RawQuery = q.Encode()
			return u.String()
		}
		// Unparsable: hide everything between the scheme and the host,
		// and any password parameter.
		scheme, rest, _ := strings.Cut(dsn, "://")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			rest = redactedPassword + rest[at:]
		}
		return scheme + "://" + kvPassword.ReplaceAllString(rest, "${1}"+redactedPassword)
	}
	return kvPassword.ReplaceAllString(dsn, "${1}"+redactedPassword)
}

func isPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// isPostgresKeyValue recognises the key=value form of a PostgreSQL DSN
// ("host=db user=app password=... dbname=ledger"), which is not a file path.
var pgKeyValue = regexp.MustCompile(`(?i)(^|\s)(host|hostaddr|dbname|user|password|port|sslmode|service)\s*=`)

func isPostgresKeyValue(dsn string) bool { return pgKeyValue.MatchString(dsn) }

// secretScrubber removes a DSN's passwords from error text: drivers echo
// parts of a DSN in their errors (pgx redacts, best effort), so every error
// the PostgreSQL ledger returns goes through it.
type secretScrubber struct{ secrets []string }

func newScrubber(dsn string) secretScrubber {
	var s []string
	add := func(p string) {
		if len(p) < 3 { // a one- or two-character "password" would blank out ordinary text
			return
		}
		// The password as given and as it appears encoded in a DSN.
		for _, v := range []string{p, url.QueryEscape(p), url.PathEscape(p), strings.TrimPrefix(url.UserPassword("", p).String(), ":")} {
			if v != "" && !slices.Contains(s, v) {
				s = append(s, v)
			}
		}
	}
	if isPostgresURL(dsn) {
		if u, err := url.Parse(dsn); err == nil {
			if p, ok := u.User.Password(); ok {
				add(p)
			}
			for k, vs := range u.Query() {
				if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
					for _, v := range vs {
						add(v)
					}
				}
			}
		} else if _, rest, _ := strings.Cut(dsn, "://"); strings.Contains(rest, "@") {
			userinfo := rest[:strings.LastIndex(rest, "@")]
			if _, p, ok := strings.Cut(userinfo, ":"); ok {
				add(p)
			}
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		v := m[2]
		if strings.HasPrefix(v, "'") && strings.HasSuffix(v, "'") && len(v) >= 2 {
			add(v[1 : len(v)-1])
			v = strings.NewReplacer(`\'`, "'", `\\`, `\`).Replace(v[1 : len(v)-1])
		}
		if i := strings.IndexByte(v, '&'); i >= 0 { // a URL query's next parameter
			v = v[:i]
		}
		add(v)
	}
	// Longest first, so a password is never half replaced by a shorter form.
	slices.SortFunc(s, func(a, b string) int { return len(b) - len(a) })
	return secretScrubber{secrets: s}
}

func (s secretScrubber) scrub(err error) error {
	if err == nil || len(s.secrets) == 0 {
		return err
	}
	msg := err.Error()
	clean := msg
	for _, sec := range s.secrets {
		clean = strings.ReplaceAll(clean, sec, redactedPassword)
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

// scrubbedError shows the scrubbed text; errors.Is/As still see the cause.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
