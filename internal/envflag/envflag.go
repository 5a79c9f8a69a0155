// Package envflag is the project's one configuration pattern: each setting is
// declared once, as a Spec (flag, environment variable, default, help, check),
// and registered on a Set. Precedence is flag > environment > default. Every
// error names the setting as "--flag (ENV)", generated from the Spec, so a
// mistake says which setting to fix whichever way it was given.
//
// Settings are grouped by the package they configure (temporalclient,
// telemetry, provider, ...), each with a Register(*Set) method, so any binary
// composes its configuration from the groups it needs plus its own Specs.
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is the set of value types a setting can have.
type Kind interface {
	string | int | int64 | bool | time.Duration
}

// Spec declares one setting.
type Spec[T Kind] struct {
	// Flag is the flag name without dashes; "" means environment only (for
	// secrets that must not appear in a process list).
	Flag string
	// Env is the environment variable; "" means flag only.
	Env string
	// Default applies when neither the flag nor the variable is given.
	Default T
	// Help is the one-line description shown by -h and in the README table.
	Help string
	// Secret values are never printed: not by -h, not in errors.
	Secret bool
	// Deprecated lists older environment names still read, with a warning,
	// when Env is unset.
	Deprecated []string
	// External means Env is read by another library (the Temporal SDK's
	// envconfig): the caller stores what that reader found in the target
	// before Var, which keeps it unless it is the zero value. envflag only
	// documents the variable and never reads it, so there is one reader.
	External bool
	// Check validates the final value, from whichever source; its error is
	// prefixed with the setting's name.
	Check func(T) error
}

// Name is how messages name the setting: "--address (TEMPORAL_ADDRESS)",
// "--item", or "INFERFLOW_OPENAI_API_KEY" for an environment-only setting.
func (sp Spec[T]) Name() string { return name(sp.Flag, sp.Env) }

func name(flagName, env string) string {
	switch {
	case flagName == "":
		return env
	case env == "":
		return "--" + flagName
	default:
		return fmt.Sprintf("--%s (%s)", flagName, env)
	}
}

// Errorf returns an *Error naming the setting, for checks that involve more
// than one setting (a certificate without its key).
func (sp Spec[T]) Errorf(format string, a ...any) error {
	return &Error{Setting: sp.Name(), Err: fmt.Errorf(format, a...)}
}

// Invalid returns an *Error naming the setting and showing v (hidden when
// secret), for checks made outside Check.
func (sp Spec[T]) Invalid(v T, format string, a ...any) error {
	return sp.wrap(v, fmt.Errorf(format, a...))
}

// Validate runs the Spec's Check on v, for values that did not come through
// a Set (a Config built in code).
func (sp Spec[T]) Validate(v T) error {
	if sp.Check == nil {
		return nil
	}
	if err := sp.Check(v); err != nil {
		return sp.wrap(v, err)
	}
	return nil
}

func (sp Spec[T]) wrap(v T, err error) error {
	return &Error{Setting: sp.Name(), Value: show(format(v), sp.Secret), Err: err}
}

// Error is a bad setting. Setting is its generated name; Value is the value
// as given (empty for secrets and empty values).
type Error struct {
	Setting string
	Value   string
	Err     error
}

func (e *Error) Error() string {
	if e.Value == "" {
		return e.Setting + ": " + e.Err.Error()
	}
	return e.Setting + " " + e.Value + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// show renders a value for a message: quoted, or hidden when secret.
func show(v string, secret bool) string {
	if v == "" {
		return ""
	}
	if secret {
		return "(secret)"
	}
	return strconv.Quote(v)
}

// Set is a flag set whose flags take environment defaults. Plain per-command
// arguments without a variable may still use the embedded FlagSet's methods.
type Set struct {
	*flag.FlagSet
	env      Environment
	settings []setting
	checks   []func() error
	errs     []error
	warnings []string
}

// setting is the untyped view of a registered Spec: for usage, docs, checks.
type setting struct {
	flag, env, help, def string
	deprecated           []string
	secret               bool
	check                func() error
}

// Environment is where a Set reads variables. Its method set is the Temporal
// SDK's envconfig.EnvLookup, so External readers see the same environment.
type Environment interface {
	LookupEnv(key string) (string, bool)
	Environ() []string
}

// OS is the process environment.
var OS Environment = osEnv{}

type osEnv struct{}

func (osEnv) LookupEnv(key string) (string, bool) { return os.LookupEnv(key) }
func (osEnv) Environ() []string                   { return os.Environ() }

// Map is a fixed environment, for tests.
type Map map[string]string

func (m Map) LookupEnv(key string) (string, bool) { v, ok := m[key]; return v, ok }

func (m Map) Environ() []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// New returns a Set for the named command, reading the process environment.
func New(name string) *Set { return NewWithEnv(name, OS) }

// NewWithEnv is New with another environment, for tests; nil is empty.
func NewWithEnv(name string, env Environment) *Set {
	if env == nil {
		env = Map{}
	}
	s := &Set{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), env: env}
	s.FlagSet.Usage = s.usage
	return s
}

// Env is the Set's environment, for readers of External variables.
func (s *Set) Env() Environment { return s.env }

// Check adds a check Parse runs after the per-setting ones, for rules that
// involve several settings (a certificate needs its key).
func (s *Set) Check(check func() error) { s.checks = append(s.checks, check) }

// Deprecate records that the old environment name was used instead of the
// new one; Parse prints the warning. For External readers.
func (s *Set) Deprecate(old, current string) {
	s.warnings = append(s.warnings, fmt.Sprintf("warning: %s is deprecated and will be removed; use %s", old, current))
}

// Fail records an error Parse reports, for External readers (a config file
// that does not parse).
func (s *Set) Fail(err error) { s.errs = append(s.errs, err) }

// Var registers the setting sp with target p: p gets the default, then the
// environment value (for External, what the other reader stored in p), then
// the flag value at Parse.
func Var[T Kind](s *Set, p *T, sp Spec[T]) {
	var zero T
	switch {
	case sp.External:
		if *p == zero {
			*p = sp.Default
		}
	default:
		*p = sp.Default
	}
	if !sp.External && sp.Env != "" {
		if raw, used, ok := s.lookup(sp.Env, sp.Deprecated); ok {
			v, err := parse[T](raw)
			if err != nil {
				s.errs = append(s.errs, &Error{Setting: sp.Name(), Value: show(raw, sp.Secret), Err: fmt.Errorf("from environment %s: %w", used, err)})
			} else {
				*p = v
			}
		}
	}
	if sp.Flag != "" {
		s.FlagSet.Var(&value[T]{p: p, secret: sp.Secret}, sp.Flag, sp.Help)
	}
	st := setting{flag: sp.Flag, env: sp.Env, help: sp.Help, def: format(sp.Default),
		deprecated: sp.Deprecated, secret: sp.Secret}
	if sp.Secret {
		st.def = ""
	}
	if sp.Check != nil {
		st.check = func() error { return sp.Validate(*p) }
	}
	s.settings = append(s.settings, st)
}

// Doc registers a Spec that has no target here: an environment-only
// variable another library reads (External), listed by -h and the README.
func Doc[T Kind](s *Set, sp Spec[T]) {
	var unused T // the other reader keeps the value
	sp.Check = nil
	sp.External = true
	Var(s, &unused, sp)
}

// lookup returns the first non-blank value among key and its deprecated names.
func (s *Set) lookup(key string, deprecated []string) (raw, used string, ok bool) {
	for _, k := range append([]string{key}, deprecated...) {
		if v, found := s.env.LookupEnv(k); found && strings.TrimSpace(v) != "" {
			if k != key {
				s.Deprecate(k, key)
			}
			return strings.TrimSpace(v), k, true
		}
	}
	return "", "", false
}

// Parse parses args, then reports every bad environment value and every
// failed check together; deprecation warnings go to the Set's output.
func (s *Set) Parse(args []string) error {
	if err := s.FlagSet.Parse(args); err != nil {
		return err
	}
	for _, w := range s.warnings {
		fmt.Fprintln(s.Output(), w)
	}
	errs := slices.Clone(s.errs)
	for _, st := range s.settings {
		if st.check != nil {
			if err := st.check(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) == 0 { // cross-setting rules assume each setting is sound
		for _, check := range s.checks {
			if err := check(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// usage prints flags then environment-only settings, one per entry:
//
//	--name type  (env ENV, deprecated OLD)
//	      help (default "value")
//
// The README check (envflagtest) parses this format.
func (s *Set) usage() {
	w := s.Output()
	fmt.Fprintf(w, "Usage of %s:\n", s.FlagSet.Name())
	byFlag := map[string]setting{}
	for _, st := range s.settings {
		if st.flag != "" {
			byFlag[st.flag] = st
		}
	}
	s.FlagSet.VisitAll(func(f *flag.Flag) {
		st, ok := byFlag[f.Name]
		if !ok { // a plain argument registered on the embedded FlagSet
			st = setting{flag: f.Name, help: f.Usage, def: f.DefValue}
			if isZero(f) {
				st.def = ""
			}
		}
		typ, _ := flag.UnquoteUsage(f)
		if typ == "value" {
			typ = kindOf(f.Value)
		}
		printEntry(w, strings.TrimSpace("--"+f.Name+" "+typ), st)
	})
	for _, st := range s.settings {
		if st.flag == "" && st.env != "" {
			printEntry(w, st.env+" (environment only)", setting{help: st.help, def: st.def, deprecated: st.deprecated, secret: st.secret})
		}
	}
}

func printEntry(w io.Writer, head string, st setting) {
	var env []string
	if st.env != "" {
		env = append(env, "env "+st.env)
	}
	if len(st.deprecated) > 0 {
		env = append(env, "deprecated "+strings.Join(st.deprecated, " "))
	}
	if len(env) > 0 {
		head += "  (" + strings.Join(env, ", ") + ")"
	}
	help := st.help
	if st.def != "" {
		help += fmt.Sprintf(" (default %q)", st.def)
	}
	fmt.Fprintf(w, "  %s\n    \t%s\n", head, help)
}

// isZero reports whether a plain flag's default is its type's zero value, as
// the flag package does before printing "(default ...)".
func isZero(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "0", "false", "0s":
		return true
	}
	return false
}

// Settings returns the registered settings in order, for documentation.
func (s *Set) Settings() []Setting {
	out := make([]Setting, 0, len(s.settings))
	for _, st := range s.settings {
		out = append(out, Setting{Flag: st.flag, Env: st.env, Default: st.def, Help: st.help,
			Secret: st.secret, Deprecated: slices.Clone(st.deprecated)})
	}
	return out
}

// Setting is the untyped description of a registered Spec. Default is the
// declared default as text ("" for secrets).
type Setting struct {
	Flag, Env, Default, Help string
	Secret                   bool
	Deprecated               []string
}

// value adapts a typed target to flag.Value.
type value[T Kind] struct {
	p      *T
	secret bool
}

func (v *value[T]) Set(raw string) error {
	x, err := parse[T](strings.TrimSpace(raw))
	if err != nil {
		return err
	}
	*v.p = x
	return nil
}

// String is what -h prints as the default; flag also calls it on a zero
// value[T], so p may be nil. Secrets print nothing.
func (v *value[T]) String() string {
	if v == nil || v.p == nil || v.secret {
		return ""
	}
	return format(*v.p)
}

// IsBoolFlag lets "--early-cancel" stand for "--early-cancel=true".
func (v *value[T]) IsBoolFlag() bool {
	_, ok := any(v.p).(*bool)
	return ok
}

func kindOf(fv flag.Value) string {
	switch fv.(type) {
	case *value[string]:
		return "string"
	case *value[int], *value[int64]:
		return "int"
	case *value[bool]:
		return ""
	case *value[time.Duration]:
		return "duration"
	}
	return "value"
}

// parse converts text to T with a message that says what was wanted.
func parse[T Kind](raw string) (T, error) {
	var zero T
	var out any
	switch any(zero).(type) {
	case string:
		out = raw
	case int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return zero, errors.New("want an integer")
		}
		out = n
	case int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return zero, errors.New("want an integer")
		}
		out = n
	case bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return zero, errors.New("want true or false")
		}
		out = b
	case time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return zero, errors.New("want a duration such as 30s or 2m")
		}
		out = d
	}
	return out.(T), nil
}

func format[T Kind](v T) string {
	switch x := any(v).(type) {
	case string:
		return x
	case time.Duration:
		if x == 0 {
			return ""
		}
		return x.String()
	case bool:
		if !x {
			return ""
		}
		return "true"
	case int:
		if x == 0 {
			return ""
		}
		return strconv.Itoa(x)
	case int64:
		if x == 0 {
			return ""
		}
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}
