// Package envflag registers command-line flags whose defaults come from
// environment variables, and reports a bad environment value by name, so
// every setting can be given either way and a mistake says which one.
package envflag

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Set wraps a FlagSet and remembers environment values it could not parse.
type Set struct {
	*flag.FlagSet
	errs []error
}

// New returns a Set for the named command.
func New(name string) *Set {
	return &Set{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
}

func usage(help, env string) string { return fmt.Sprintf("%s (env %s)", help, env) }

// String registers a string flag defaulting to $env or def.
func (s *Set) String(p *string, name, env, def, help string) {
	if v, ok := os.LookupEnv(env); ok && strings.TrimSpace(v) != "" {
		def = strings.TrimSpace(v)
	}
	s.StringVar(p, name, def, usage(help, env))
}

// Int registers an int flag defaulting to $env or def.
func (s *Set) Int(p *int, name, env string, def int, help string) {
	if v, ok := os.LookupEnv(env); ok && strings.TrimSpace(v) != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("environment %s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	s.IntVar(p, name, def, usage(help, env))
}

// Bool registers a bool flag defaulting to $env or def.
func (s *Set) Bool(p *bool, name, env string, def bool, help string) {
	if v, ok := os.LookupEnv(env); ok && strings.TrimSpace(v) != "" {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("environment %s=%q: want true or false", env, v))
		} else {
			def = b
		}
	}
	s.BoolVar(p, name, def, usage(help, env))
}

// Duration registers a duration flag defaulting to $env or def.
func (s *Set) Duration(p *time.Duration, name, env string, def time.Duration, help string) {
	if v, ok := os.LookupEnv(env); ok && strings.TrimSpace(v) != "" {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("environment %s=%q: want a duration like 30s", env, v))
		} else {
			def = d
		}
	}
	s.DurationVar(p, name, def, usage(help, env))
}

// Parse parses args; it fails on the first bad environment value too.
func (s *Set) Parse(args []string) error {
	if len(s.errs) > 0 {
		return s.errs[0]
	}
	return s.FlagSet.Parse(args)
}
