package rtc

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLimitDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.MaxOfferBytes != 64<<10 || c.RequestBurst != 20 || c.RequestsPerMinute != 120 ||
		c.MaxSessions != 64 || c.MaxSessionsPerToken != 4 {
		t.Fatalf("defaults: offer %d, burst %d, per minute %d, sessions %d, per token %d; want 65536, 20, 120, 64, 4",
			c.MaxOfferBytes, c.RequestBurst, c.RequestsPerMinute, c.MaxSessions, c.MaxSessionsPerToken)
	}
	for _, tt := range []struct {
		field  string
		change func(*Config)
	}{
		{"MaxOfferBytes", func(c *Config) { c.MaxOfferBytes = 1023 }},
		{"MaxOfferBytes", func(c *Config) { c.MaxOfferBytes = MaxOfferBytesCeiling + 1 }},
		{"RequestsPerMinute", func(c *Config) { c.RequestsPerMinute = -1 }},
		{"RequestBurst", func(c *Config) { c.RequestBurst = -1 }},
	} {
		cfg := Config{Tokens: map[string]string{aliceToken: "alice"}}
		tt.change(&cfg)
		err := cfg.withDefaults().validate()
		if ce, ok := err.(*ConfigError); !ok || ce.Field != tt.field {
			t.Errorf("want a ConfigError on %s, got %v", tt.field, err)
		}
	}
}

// post sends one request to the endpoint and returns status, error code,
// message and Retry-After.
func post(t *testing.T, url, token, body string, chunked bool) (int, string, string, string) {
	t.Helper()
	var r io.Reader = strings.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // hides the length
	}
	req, err := http.NewRequest(http.MethodPost, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb errorBody
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	return resp.StatusCode, eb.Error, eb.Message, resp.Header.Get("Retry-After")
}

// An offer of exactly MaxOfferBytes is read (and refused as unparsable:
// the size check let it through); one byte more is 413 with a message
// naming the limit. Both with and without Content-Length.
func TestOfferSizeBoundary(t *testing.T) {
	for _, limit := range []int{1024, 4096, DefaultMaxOfferBytes} {
		for _, chunked := range []bool{false, true} {
			t.Run(strconv.Itoa(limit)+map[bool]string{false: "", true: "/chunked"}[chunked], func(t *testing.T) {
				cfg := testConfig(t)
				cfg.MaxOfferBytes = limit
				h := newHarness(t, cfg)
				for _, tt := range []struct {
					size   int
					status int
					code   string
				}{
					{limit - 1, 400, "bad_offer"},
					{limit, 400, "bad_offer"},
					{limit + 1, 413, "payload_too_large"},
					{limit * 2, 413, "payload_too_large"},
				} {
					status, code, msg, _ := post(t, h.url(), aliceToken, strings.Repeat("x", tt.size), chunked)
					if status != tt.status || code != tt.code {
						t.Fatalf("%d-byte offer: %d %s (%s), want %d %s", tt.size, status, code, msg, tt.status, tt.code)
					}
					if status == 413 && !strings.Contains(msg, "limit of "+strconv.Itoa(limit)+" bytes") {
						t.Errorf("413 message %q does not name the limit", msg)
					}
				}
				http.DefaultClient.CloseIdleConnections()
			})
		}
	}
}

// Exactly N sessions are admitted, in total and per token; the N+1st is
// 429 too_many_sessions with a message naming the limit.
func TestSessionLimitBoundary(t *testing.T) {
	tests := []struct {
		name            string
		total, perToken int
		tokens          []string // tokens admitted, in order, up to the limit
		refused         string   // the token of the N+1st request
		want            string   // in the refusal's message
	}{
		{"per token 1", 8, 1, []string{aliceToken}, aliceToken, "maximum of 1 sessions"},
		{"per token 4", 8, 4, []string{aliceToken, aliceToken, aliceToken, aliceToken}, aliceToken, "this token already runs its maximum of 4"},
		{"total 1", 1, 1, []string{aliceToken}, bobToken, "the server runs its maximum of 1"},
		{"total 3 over tokens", 3, 2, []string{aliceToken, aliceToken, bobToken}, carolToken, "the server runs its maximum of 3"},
		{"per token before total", 3, 2, []string{aliceToken, aliceToken}, aliceToken, "this token already runs its maximum of 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.MaxSessions, cfg.MaxSessionsPerToken = tt.total, tt.perToken
			srv, err := NewServer(cfg, func(context.Context, *Session) {})
			if err != nil {
				t.Fatal(err)
			}
			for i, tok := range tt.tokens {
				if status, code, msg := srv.admit(tok); status != 0 {
					t.Fatalf("request %d of %d refused: %d %s %s", i+1, len(tt.tokens), status, code, msg)
				}
			}
			status, code, msg := srv.admit(tt.refused)
			if status != http.StatusTooManyRequests || code != "too_many_sessions" || !strings.Contains(msg, tt.want) {
				t.Fatalf("request %d: %d %s %q, want 429 too_many_sessions %q", len(tt.tokens)+1, status, code, msg, tt.want)
			}
			// Freeing one slot admits one more, and only one.
			srv.release(tt.tokens[len(tt.tokens)-1])
			if status, _, msg := srv.admit(tt.tokens[len(tt.tokens)-1]); status != 0 {
				t.Fatalf("after a release: refused: %s", msg)
			}
			if status, _, _ := srv.admit(tt.refused); status != http.StatusTooManyRequests {
				t.Fatalf("after a release and a re-admit: %d, want 429", status)
			}
			for _, tok := range tt.tokens {
				srv.release(tok)
			}
			if err := srv.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Each token may make exactly RequestBurst requests at once; the next is
// 429 rate_limited with a Retry-After from the bucket's refill, and other
// tokens are not affected.
func TestRequestRateBoundary(t *testing.T) {
	tests := []struct {
		burst, perMinute int
		retryAfter       string // the wait for one request at this rate
	}{
		{1, 1, "60"},
		{3, 6, "10"},
		{DefaultRequestBurst, DefaultRequestsPerMinute, "1"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.burst)+"/"+strconv.Itoa(tt.perMinute), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.RequestBurst, cfg.RequestsPerMinute = tt.burst, tt.perMinute
			h := newHarness(t, cfg)
			// The clock stands still: no refill while the test runs, however
			// slow the machine.
			stopped := time.Now()
			h.srv.limits.now = func() time.Time { return stopped }
			// Unparsable offers: each counts as a request, none starts a session.
			for i := range tt.burst {
				if status, code, msg, _ := post(t, h.url(), aliceToken, "hello", false); status != 400 {
					t.Fatalf("request %d of %d: %d %s %s, want 400 bad_offer", i+1, tt.burst, status, code, msg)
				}
			}
			status, code, msg, retry := post(t, h.url(), aliceToken, "hello", false)
			if status != 429 || code != "rate_limited" || retry != tt.retryAfter || !strings.Contains(msg, "request rate") {
				t.Fatalf("request %d: %d %s %q Retry-After %q, want 429 rate_limited Retry-After %s", tt.burst+1, status, code, msg, retry, tt.retryAfter)
			}
			// A refused request does not eat into the next one's budget:
			// again 429 with the same wait, not a longer one.
			if _, _, _, again := post(t, h.url(), aliceToken, "hello", false); again != tt.retryAfter {
				t.Errorf("second refusal Retry-After %q, want %s", again, tt.retryAfter)
			}
			if status, _, _, _ := post(t, h.url(), bobToken, "hello", false); status != 400 {
				t.Errorf("another token: %d, want its own budget (400)", status)
			}
			// An unknown token is refused by authentication, not metered.
			if status, code, _, _ := post(t, h.url(), "token-mallory-99", "hello", false); status != 401 {
				t.Errorf("unknown token: %d %s, want 401", status, code)
			}
			// Once the clock moves on by Retry-After, the token may call again.
			wait, _ := strconv.Atoi(tt.retryAfter)
			stopped = stopped.Add(time.Duration(wait) * time.Second)
			if status, code, _, _ := post(t, h.url(), aliceToken, "hello", false); status != 400 {
				t.Errorf("after Retry-After: %d %s, want 400", status, code)
			}
			http.DefaultClient.CloseIdleConnections()
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want int
	}{{0, 1}, {time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {time.Minute, 60}} {
		if got := retryAfterSeconds(tt.d); got != tt.want {
			t.Errorf("retryAfterSeconds(%s) = %d, want %d", tt.d, got, tt.want)
		}
	}
}
