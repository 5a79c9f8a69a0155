package rtc

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// tokenLimits is one token bucket per configured bearer token. It is built
// once from the token list and never grows: requests are limited after
// authentication, so an unknown token never gets a bucket (and cannot make
// the map grow), and a token's callers share its budget.
type tokenLimits struct {
	byToken map[string]*rate.Limiter
	now     func() time.Time // time.Now; tests stop the clock
}

func newTokenLimits(tokens map[string]string, perMinute, burst int) *tokenLimits {
	l := &tokenLimits{byToken: make(map[string]*rate.Limiter, len(tokens)), now: time.Now}
	for tok := range tokens {
		l.byToken[tok] = rate.NewLimiter(rate.Limit(float64(perMinute)/60), burst)
	}
	return l
}

// allow takes one request from token's bucket; when it is empty, it says
// how long until the next request would be let through.
func (l *tokenLimits) allow(token string) (time.Duration, bool) {
	lim, ok := l.byToken[token]
	if !ok {
		return 0, true // not a configured token: authentication refused it already
	}
	now := l.now()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request must not use up the next one's token
		return d, false
	}
	return 0, true
}

// retryAfterSeconds rounds a wait up to whole seconds (Retry-After has no
// fractions), never below 1: a client told 0 would retry at once.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
