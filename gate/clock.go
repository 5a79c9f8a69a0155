package gate

import (
	"sync"
	"time"
)

// Clock is the gate's only source of time: hangover, tail hold, uplink
// timeouts and latencies all read it, so tests and the evaluator can drive
// the gate in simulated time with a ManualClock.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (SystemClock) or inside
	// ManualClock.Advance once d has elapsed. The returned Timer is reused
	// by the gate through Reset, so implementations must support Reset after
	// Stop and after firing.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a stoppable, resettable timer created by Clock.AfterFunc.
type Timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc; *time.Timer satisfies Timer.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// ManualClock is a Clock that only moves when told to. Timers fire
// synchronously inside Advance/Set, in due order, each seeing Now() equal to
// its due time. It is safe for concurrent use.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer // armed timers, unordered
	seq    uint64
}

// NewManualClock returns a ManualClock reading start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arms a timer that fires f once the clock has advanced by d.
func (c *ManualClock) AfterFunc(d time.Duration, f func()) Timer {
	t := &manualTimer{c: c, f: f}
	t.Reset(d)
	return t
}

// Advance moves the clock forward by d, firing due timers on the way.
func (c *ManualClock) Advance(d time.Duration) {
	if d < 0 {
		d = 0
	}
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	c.advanceTo(target)
}

// Set moves the clock to t (never backwards), firing due timers on the way.
func (c *ManualClock) Set(t time.Time) { c.advanceTo(t) }

// PendingTimers reports how many timers are armed; tests use it to wait
// until a goroutine has armed its timeout before advancing.
func (c *ManualClock) PendingTimers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func (c *ManualClock) advanceTo(target time.Time) {
	for {
		c.mu.Lock()
		if target.Before(c.now) {
			target = c.now
		}
		var next *manualTimer
		for _, t := range c.timers {
			if t.when.After(target) {
				continue
			}
			if next == nil || t.when.Before(next.when) || (t.when.Equal(next.when) && t.seq < next.seq) {
				next = t
			}
		}
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		if next.when.After(c.now) {
			c.now = next.when
		}
		c.removeLocked(next)
		f := next.f
		c.mu.Unlock()
		// Outside the lock: callbacks may read the clock or arm timers.
		f()
	}
}

func (c *ManualClock) removeLocked(t *manualTimer) bool {
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}

type manualTimer struct {
	c    *ManualClock
	f    func()
	when time.Time
	seq  uint64
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.c.removeLocked(t)
}

func (t *manualTimer) Reset(d time.Duration) bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	active := c.removeLocked(t)
	t.when = c.now.Add(d)
	c.seq++
	t.seq = c.seq
	c.timers = append(c.timers, t)
	return active
}
