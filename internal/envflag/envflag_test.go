package envflag

import (
	"strings"
	"testing"
	"time"
)

func TestEnvDefaultsAndOverrides(t *testing.T) {
	t.Setenv("T_ADDR", "10.0.0.1:7233")
	t.Setenv("T_N", "7")
	t.Setenv("T_B", "true")
	t.Setenv("T_D", "3s")
	s := New("x")
	var (
		addr string
		n    int
		b    bool
		d    time.Duration
	)
	s.String(&addr, "addr", "T_ADDR", "127.0.0.1:7233", "")
	s.Int(&n, "n", "T_N", 1, "")
	s.Bool(&b, "b", "T_B", false, "")
	s.Duration(&d, "d", "T_D", time.Second, "")
	if err := s.Parse([]string{"-n", "9"}); err != nil {
		t.Fatal(err)
	}
	if addr != "10.0.0.1:7233" || n != 9 || !b || d != 3*time.Second {
		t.Fatalf("got %s %d %v %s", addr, n, b, d)
	}
}

func TestBadEnvironmentValueIsNamed(t *testing.T) {
	for _, tt := range []struct{ env, val string }{{"T_N", "seven"}, {"T_B", "yes please"}, {"T_D", "3 sec"}} {
		t.Run(tt.env, func(t *testing.T) {
			t.Setenv(tt.env, tt.val)
			s := New("x")
			var n int
			var b bool
			var d time.Duration
			s.Int(&n, "n", "T_N", 1, "")
			s.Bool(&b, "b", "T_B", false, "")
			s.Duration(&d, "d", "T_D", time.Second, "")
			err := s.Parse(nil)
			if err == nil || !strings.Contains(err.Error(), tt.env) {
				t.Fatalf("err = %v, want it to name %s", err, tt.env)
			}
		})
	}
}
