package gate

import "time"

// slot is one frame the gate keeps (queued or held). It owns its sample
// buffers, so keeping a frame copies samples but never allocates once the
// slot has seen a frame of that size.
type slot struct {
	f     Frame // sample slices point into i16/f32
	i16   []int16
	f32   []float32
	lane  Lane
	order uint64 // FIFO position across queue and held batches
}

func (s *slot) store(f *Frame, lane Lane, order uint64) {
	s.f = *f
	if f.Int16 != nil {
		if cap(s.i16) < len(f.Int16) {
			s.i16 = make([]int16, len(f.Int16))
		}
		s.i16 = s.i16[:len(f.Int16)]
		copy(s.i16, f.Int16)
		s.f.Int16, s.f.Float32 = s.i16, nil
	} else {
		if cap(s.f32) < len(f.Float32) {
			s.f32 = make([]float32, len(f.Float32))
		}
		s.f32 = s.f32[:len(f.Float32)]
		copy(s.f32, f.Float32)
		s.f.Int16, s.f.Float32 = nil, s.f32
	}
	s.lane, s.order = lane, order
}

// ring is a fixed-capacity FIFO of slots that tracks total frame duration.
type ring struct {
	slots   []slot
	head, n int
	dur     time.Duration
}

func newRing(capacity int) ring { return ring{slots: make([]slot, capacity)} }

// push returns the slot at the tail for the caller to fill; the ring must
// not be full.
func (r *ring) push(d time.Duration) *slot {
	s := &r.slots[(r.head+r.n)%len(r.slots)]
	r.n++
	r.dur += d
	return s
}

func (r *ring) front() *slot { return &r.slots[r.head] }

func (r *ring) at(i int) *slot { return &r.slots[(r.head+i)%len(r.slots)] }

func (r *ring) pop() {
	r.dur -= r.slots[r.head].f.Duration
	r.head = (r.head + 1) % len(r.slots)
	r.n--
	if r.n == 0 {
		r.head, r.dur = 0, 0
	}
}

func (r *ring) clear() { r.head, r.n, r.dur = 0, 0, 0 }
