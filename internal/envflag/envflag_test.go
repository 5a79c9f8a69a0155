package envflag

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

// env is a fixed environment, so tests do not touch the process's.
func env(m map[string]string) Map { return Map(m) }

type all struct {
	s string
	n int
	l int64
	b bool
	d time.Duration
}

func register(s *Set, v *all) {
	Var(s, &v.s, Spec[string]{Flag: "s", Env: "T_S", Default: "def", Help: "a string"})
	Var(s, &v.n, Spec[int]{Flag: "n", Env: "T_N", Default: 1, Help: "an int"})
	Var(s, &v.l, Spec[int64]{Flag: "l", Env: "T_L", Default: 2, Help: "an int64"})
	Var(s, &v.b, Spec[bool]{Flag: "b", Env: "T_B", Help: "a bool"})
	Var(s, &v.d, Spec[time.Duration]{Flag: "d", Env: "T_D", Default: time.Second, Help: "a duration"})
}

func TestPrecedenceFlagOverEnvOverDefault(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want all
	}{
		{"defaults", nil, nil, all{"def", 1, 2, false, time.Second}},
		{"environment", map[string]string{"T_S": " x ", "T_N": "7", "T_L": "8", "T_B": "true", "T_D": "3s"}, nil,
			all{"x", 7, 8, true, 3 * time.Second}},
		{"blank environment is unset", map[string]string{"T_S": "  ", "T_N": ""}, nil, all{"def", 1, 2, false, time.Second}},
		{"flags over environment", map[string]string{"T_S": "x", "T_N": "7", "T_B": "true", "T_D": "3s"},
			[]string{"--s", "y", "-n=9", "--l", "10", "--b=false", "--d", "1m"}, all{"y", 9, 10, false, time.Minute}},
		{"bare bool flag", nil, []string{"--b"}, all{"def", 1, 2, true, time.Second}},
		{"flags over defaults", nil, []string{"--n", "4"}, all{"def", 4, 2, false, time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewWithEnv("x", env(tt.env))
			var got all
			register(s, &got)
			if err := s.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBadValuesNameTheSetting(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string // all must appear in the error
	}{
		{"env int", map[string]string{"T_N": "seven"}, nil, []string{"--n (T_N)", `"seven"`, "integer"}},
		{"env int64", map[string]string{"T_L": "1e3"}, nil, []string{"--l (T_L)", "integer"}},
		{"env bool", map[string]string{"T_B": "yes please"}, nil, []string{"--b (T_B)", "true or false"}},
		{"env duration", map[string]string{"T_D": "3 sec"}, nil, []string{"--d (T_D)", "duration such as 30s"}},
		{"two bad env values both reported", map[string]string{"T_N": "x", "T_D": "y"}, nil, []string{"T_N", "T_D"}},
		{"flag int", nil, []string{"--n", "many"}, []string{"-n", "integer"}},
		{"flag duration", nil, []string{"--d", "10"}, []string{"-d", "duration"}},
		{"unknown flag", nil, []string{"--nope"}, []string{"not defined: -nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewWithEnv("x", env(tt.env))
			s.SetOutput(new(bytes.Buffer))
			var v all
			register(s, &v)
			err := s.Parse(tt.args)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestChecks(t *testing.T) {
	tests := []struct {
		name  string
		check func(string) error
		value string
		want  string // "" = valid
	}{
		{"not blank ok", NotBlank, "a", ""},
		{"blank", NotBlank, " ", "--v (T_V): must not be empty"},
		{"one of ok", OneOf("dev", "prod"), "prod", ""},
		{"one of", OneOf("dev", "prod"), "xml", `--v (T_V) "xml": want dev or prod`},
		{"host port ok", HostPort, ":9090", ""},
		{"host port", HostPort, "localhost", `--v (T_V) "localhost": want host:port`},
		{"optional empty", Optional(HostPort), "", ""},
		{"optional bad", Optional(HostPort), "x", "want host:port"},
		{"url ok", HTTPURL, "https://api.openai.com/v1", ""},
		{"url relative", HTTPURL, "/v1", "want an absolute http(s) URL"},
		{"url ftp", HTTPURL, "ftp://h/v1", "want an absolute http(s) URL"},
		{"url query", HTTPURL, "http://h/v1?k=1", "must not have a query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, viaFlag := range []bool{false, true} {
				m := map[string]string{"T_V": tt.value}
				var args []string
				if viaFlag {
					m, args = nil, []string{"--v=" + tt.value}
				}
				s := NewWithEnv("x", env(m))
				var v string
				Var(s, &v, Spec[string]{Flag: "v", Env: "T_V", Default: "unset-default", Check: tt.check})
				err := s.Parse(args)
				if tt.value == "" || strings.TrimSpace(tt.value) == "" {
					// A blank variable counts as unset; only the flag can give it.
					if !viaFlag {
						continue
					}
				}
				if tt.want == "" {
					if err != nil {
						t.Fatalf("flag=%v: %v", viaFlag, err)
					}
					continue
				}
				var e *Error
				if !errors.As(err, &e) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("flag=%v: err = %v, want *Error containing %q", viaFlag, err, tt.want)
				}
			}
		})
	}
}

func TestAtLeast(t *testing.T) {
	s := NewWithEnv("x", env(map[string]string{"T_D": "500ms"}))
	var d time.Duration
	Var(s, &d, Spec[time.Duration]{Flag: "d", Env: "T_D", Default: time.Minute, Check: AtLeast(time.Second)})
	if err := s.Parse(nil); err == nil || err.Error() != `--d (T_D) "500ms": must be at least 1s` {
		t.Fatalf("err = %v", err)
	}
}

func TestDeprecatedNames(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		want     string
		warnings string
	}{
		{"new name", map[string]string{"T_NEW": "a", "T_OLD": "b"}, "a", ""},
		{"old name warns", map[string]string{"T_OLD": "b"}, "b", "T_OLD is deprecated and will be removed; use T_NEW"},
		{"neither", nil, "def", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewWithEnv("x", env(tt.env))
			var out bytes.Buffer
			s.SetOutput(&out)
			var v string
			Var(s, &v, Spec[string]{Flag: "v", Env: "T_NEW", Default: "def", Deprecated: []string{"T_OLD"}})
			if err := s.Parse(nil); err != nil {
				t.Fatal(err)
			}
			if v != tt.want || !strings.Contains(out.String(), tt.warnings) || (tt.warnings == "" && out.Len() > 0) {
				t.Fatalf("v = %q, output %q", v, out.String())
			}
		})
	}
}

// An External variable is documented but read by someone else.
func TestExternalIsNotRead(t *testing.T) {
	s := NewWithEnv("x", env(map[string]string{"T_EXT": "from-env"}))
	var v string
	Var(s, &v, Spec[string]{Flag: "v", Env: "T_EXT", Default: "from-reader", External: true})
	if err := s.Parse(nil); err != nil || v != "from-reader" {
		t.Fatalf("v = %q, %v", v, err)
	}
	if got := s.Settings(); len(got) != 1 || got[0].Env != "T_EXT" {
		t.Fatalf("settings = %+v", got)
	}
}

func TestSecretsAreNeverPrinted(t *testing.T) {
	const secret = "sk-very-secret"
	s := NewWithEnv("x", env(map[string]string{"T_KEY": secret, "T_ENVKEY": secret, "T_BADSECRET": secret}))
	var out bytes.Buffer
	s.SetOutput(&out)
	var key, envKey string
	var n int
	Var(s, &key, Spec[string]{Flag: "api-key", Env: "T_KEY", Help: "the key", Secret: true})
	Var(s, &envKey, Spec[string]{Env: "T_ENVKEY", Help: "env-only key", Secret: true,
		Check: func(string) error { return errors.New("rejected") }})
	Var(s, &n, Spec[int]{Flag: "n", Env: "T_BADSECRET", Secret: true})
	err := s.Parse([]string{"-h"})
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	if key != secret || envKey != secret {
		t.Fatal("the secret was not read")
	}
	err = s.Parse(nil)
	if err == nil || !strings.Contains(err.Error(), "T_ENVKEY (secret): rejected") || !strings.Contains(err.Error(), "T_BADSECRET") {
		t.Fatalf("err = %v", err)
	}
	for name, text := range map[string]string{"-h": out.String(), "errors": err.Error()} {
		if strings.Contains(text, secret) {
			t.Errorf("%s prints the secret: %s", name, text)
		}
	}
	if !strings.Contains(out.String(), "T_ENVKEY (environment only)") {
		t.Errorf("usage lacks the environment-only setting:\n%s", out.String())
	}
}

func TestUsageFormat(t *testing.T) {
	s := NewWithEnv("cmd", env(nil))
	var out bytes.Buffer
	s.SetOutput(&out)
	var v all
	register(s, &v)
	var item string
	s.StringVar(&item, "item", "", "plain argument")
	Var(s, &item, Spec[string]{Flag: "dep", Env: "T_NEW", Deprecated: []string{"T_OLD"}, Default: "z", Help: "h"})
	_ = s.Parse([]string{"-h"})
	for _, want := range []string{
		"Usage of cmd:\n",
		"  --d duration  (env T_D)\n    \ta duration (default \"1s\")\n",
		"  --b  (env T_B)\n    \ta bool\n",
		"  --item string\n    \tplain argument\n",
		"  --dep string  (env T_NEW, deprecated T_OLD)\n    \th (default \"z\")\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSpecName(t *testing.T) {
	for _, tt := range []struct {
		sp   Spec[string]
		want string
	}{
		{Spec[string]{Flag: "address", Env: "TEMPORAL_ADDRESS"}, "--address (TEMPORAL_ADDRESS)"},
		{Spec[string]{Flag: "item"}, "--item"},
		{Spec[string]{Env: "KEY"}, "KEY"},
	} {
		if got := tt.sp.Name(); got != tt.want {
			t.Errorf("Name() = %q, want %q", got, tt.want)
		}
		if err := tt.sp.Errorf("bad %d", 1); err.Error() != tt.want+": bad 1" {
			t.Errorf("Errorf = %q", err)
		}
	}
}

// Set.Check sees the final values (flags included) and runs only when
// every setting is sound on its own.
func TestCrossSettingChecks(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // "" = valid
	}{
		{"both", []string{"--cert", "c", "--key", "k"}, ""},
		{"neither", nil, ""},
		{"cert alone", []string{"--cert", "c"}, "--cert (T_CERT): goes with --key (T_KEY)"},
		{"bad setting first", []string{"--cert", "c", "--n", "0"}, `--n (T_N): must be positive`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewWithEnv("x", nil)
			s.SetOutput(new(bytes.Buffer))
			cert := Spec[string]{Flag: "cert", Env: "T_CERT"}
			key := Spec[string]{Flag: "key", Env: "T_KEY"}
			var c, k string
			var n int
			Var(s, &c, cert)
			Var(s, &k, key)
			Var(s, &n, Spec[int]{Flag: "n", Env: "T_N", Default: 1, Check: Positive[int]})
			s.Check(func() error {
				if (c == "") != (k == "") {
					return cert.Errorf("goes with %s", key.Name())
				}
				return nil
			})
			err := s.Parse(tt.args)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestInvalidHidesSecrets(t *testing.T) {
	plain := Spec[string]{Flag: "url", Env: "T_URL"}
	secret := Spec[string]{Env: "T_KEY", Secret: true}
	if got := plain.Invalid("ftp://x", "want %s", "http").Error(); got != `--url (T_URL) "ftp://x": want http` {
		t.Errorf("plain: %s", got)
	}
	if got := secret.Invalid("sk-1", "bad").Error(); got != "T_KEY (secret): bad" {
		t.Errorf("secret: %s", got)
	}
	var e *Error
	if err := plain.Validate("x"); err != nil || !errors.As(plain.Errorf("x"), &e) || e.Setting != "--url (T_URL)" {
		t.Errorf("Validate without Check = %v; Errorf setting %+v", err, e)
	}
}
