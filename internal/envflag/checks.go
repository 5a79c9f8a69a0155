package envflag

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Checks shared by the Specs; each says what it wants, never how it failed
// inside, because the Spec adds the setting's name and value.

// NotBlank rejects an empty or all-space value.
func NotBlank(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

// OneOf accepts exactly one of choices.
func OneOf(choices ...string) func(string) error {
	return func(v string) error {
		if slices.Contains(choices, v) {
			return nil
		}
		return fmt.Errorf("want %s", orList(choices))
	}
}

// HostPort accepts host:port (the host may be empty, as in ":9090").
func HostPort(v string) error {
	if _, _, err := net.SplitHostPort(v); err != nil {
		return errors.New("want host:port")
	}
	return nil
}

// Optional applies check only to a non-empty value.
func Optional(check func(string) error) func(string) error {
	return func(v string) error {
		if v == "" {
			return nil
		}
		return check(v)
	}
}

// HTTPURL accepts an absolute http or https URL without query or fragment.
func HTTPURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an absolute http(s) URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	return nil
}

// AtLeast accepts values >= low.
func AtLeast[T int | int64 | time.Duration](low T) func(T) error {
	return func(v T) error {
		if v < low {
			return fmt.Errorf("must be at least %v", low)
		}
		return nil
	}
}

// Positive accepts values > 0.
func Positive[T int | int64 | time.Duration](v T) error {
	if v <= 0 {
		return errors.New("must be positive")
	}
	return nil
}

func orList(choices []string) string {
	switch len(choices) {
	case 0:
		return "nothing"
	case 1:
		return choices[0]
	}
	return strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
}
