// Package providerplan is a seeded, deterministic plan of model provider
// faults for the chaos suite: each call the fake provider
// (internal/provider/openaitest) receives gets an answer decided only by the
// seed, the call's kind, its request id (X-Request-ID, which the activities
// derive from the item or job and the attempt) and how many times that id
// was seen before. The same seed therefore gives every call the same
// answer, whatever order calls arrive in, and a run can be replayed.
//
// Faults: 429 with Retry-After, 5xx, a hang past the caller's timeout,
// malformed output, and a connection reset. Successful vision and judge
// answers carry a value drawn from the same hash, so a check can tell
// which call a value came from.
package providerplan

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"time"

	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/wire"
)

// Fault is what the provider does with one call.
type Fault string

const (
	None        Fault = "ok"
	RateLimited Fault = "429"
	ServerError Fault = "5xx"
	Hang        Fault = "hang"
	Malformed   Fault = "malformed"
	Reset       Fault = "reset"
)

// Faults lists the faults in the order Rates draws them.
var Faults = []Fault{RateLimited, ServerError, Hang, Malformed, Reset}

// Rates are the chance of each fault per call (their sum at most 1; the
// rest answers successfully).
type Rates struct {
	RateLimited, ServerError, Hang, Malformed, Reset float64
}

// DefaultRates fail about one call in three, every kind of fault present.
var DefaultRates = Rates{RateLimited: 0.08, ServerError: 0.08, Hang: 0.04, Malformed: 0.06, Reset: 0.06}

func (r Rates) of(f Fault) float64 {
	switch f {
	case RateLimited:
		return r.RateLimited
	case ServerError:
		return r.ServerError
	case Hang:
		return r.Hang
	case Malformed:
		return r.Malformed
	case Reset:
		return r.Reset
	}
	return 0
}

// Decision is the plan's answer to one call.
type Decision struct {
	Kind      openaitest.Kind
	RequestID string
	// Occurrence counts earlier calls with the same kind and request id (a
	// completion's id is its job's, the same on every attempt).
	Occurrence int
	Fault      Fault
	// Value and Confidence are a successful vision or judge answer's.
	Value, Confidence float64
	// Status is the HTTP status of RateLimited (429) and ServerError
	// (500, 502 or 503); RetryAfter the 429's header in seconds.
	Status     int
	RetryAfter int
	// Latency delays a successful answer (well inside any timeout).
	Latency time.Duration
}

// Code is the activity error code the fault turns into ("" for None), as
// the consensus checks compare it (internal/chaoscheck).
func (d Decision) Code() wire.Code {
	switch d.Fault {
	case None:
		return ""
	case RateLimited:
		return wire.CodeRateLimited
	case Hang:
		return wire.CodeTimeout
	case Malformed:
		return wire.CodeInvalidOutput
	}
	return wire.CodeServerError
}

// Response is the fake's answer for d.
func (d Decision) Response() openaitest.Response {
	switch d.Fault {
	case RateLimited:
		return openaitest.RateLimited(fmt.Sprint(d.RetryAfter))
	case ServerError:
		return openaitest.Status(d.Status)
	case Hang:
		return openaitest.Hang()
	case Malformed:
		if d.Kind == openaitest.KindCompletion {
			return openaitest.RawBody(200, `{"id": "chatcmpl-fake", "choices": [`)
		}
		return openaitest.Malformed()
	case Reset:
		return openaitest.Drop()
	}
	if d.Kind == openaitest.KindCompletion {
		return openaitest.Delay(d.Latency)
	}
	return openaitest.OK(d.Value, d.Confidence).WithDelay(d.Latency)
}

// Plan decides and records. Create it with New.
type Plan struct {
	seed  int64
	rates Rates

	mu        sync.Mutex
	seen      map[string]int
	decisions []Decision
}

// New makes a plan for seed; rates of zero value mean DefaultRates.
func New(seed int64, rates Rates) *Plan {
	if rates == (Rates{}) {
		rates = DefaultRates
	}
	return &Plan{seed: seed, rates: rates, seen: map[string]int{}}
}

// Decide is the plan's answer to the occurrence-th call of kind with
// requestID. It is pure: the same seed and arguments give the same answer.
func (p *Plan) Decide(kind openaitest.Kind, requestID string, occurrence int) Decision {
	h := func(salt string) uint64 {
		f := fnv.New64a()
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(p.seed))
		f.Write(b[:])
		fmt.Fprintf(f, "|%s|%s|%d|%s", kind, requestID, occurrence, salt)
		return f.Sum64()
	}
	unit := func(salt string) float64 { return float64(h(salt)>>11) / (1 << 53) }
	d := Decision{Kind: kind, RequestID: requestID, Occurrence: occurrence, Fault: None}
	x, acc := unit("fault"), 0.0
	for _, f := range Faults {
		acc += p.rates.of(f)
		if x < acc {
			d.Fault = f
			break
		}
	}
	switch d.Fault {
	case RateLimited:
		d.Status, d.RetryAfter = 429, 1+int(h("retry")%2)
	case ServerError:
		d.Status = []int{500, 502, 503}[h("status")%3]
	case None:
		// Whole numbers keep values exact through JSON.
		d.Value = float64(100 + h("value")%9900)
		d.Confidence = 0.5 + float64(h("confidence")%50)/100
		d.Latency = time.Duration(h("latency")%150) * time.Millisecond
	}
	return d
}

// Responder is the hook to give openaitest.Server.SetResponder: it
// decides each call and records the decision.
func (p *Plan) Responder() func(openaitest.Request) (openaitest.Response, bool) {
	return func(r openaitest.Request) (openaitest.Response, bool) {
		k := string(r.Kind) + "|" + r.RequestID
		p.mu.Lock()
		n := p.seen[k]
		p.seen[k]++
		p.mu.Unlock()
		d := p.Decide(r.Kind, r.RequestID, n)
		p.mu.Lock()
		p.decisions = append(p.decisions, d)
		p.mu.Unlock()
		return d.Response(), true
	}
}

// Decisions returns the recorded decisions in arrival order.
func (p *Plan) Decisions() []Decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Decision(nil), p.decisions...)
}

// Counts is how many calls got each fault (None included).
func (p *Plan) Counts() map[Fault]int {
	out := map[Fault]int{}
	for _, d := range p.Decisions() {
		out[d.Fault]++
	}
	return out
}

// CountsString lists counts by fault, for a summary line.
func CountsString(c map[Fault]int) string {
	keys := make([]string, 0, len(c))
	for f := range c {
		keys = append(keys, string(f))
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf(" %s=%d", k, c[Fault(k)])
	}
	return s
}
