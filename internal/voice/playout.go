package voice

import (
	"sync"
	"sync/atomic"
)

// playout buffers the assistant's audio between the model (which may send
// it faster than real time) and the 20 ms playout clock. It is bounded: a
// model that streams more than max samples ahead loses the oldest audio,
// counted, rather than growing memory.
type playout struct {
	mu      sync.Mutex
	buf     []int16 // buf[off:] is still to play
	off     int
	max     int
	dropped uint64
	// playing is read by the gate's playback probe on the audio path, so it
	// is an atomic rather than under mu.
	playing atomic.Bool
	frames  atomic.Uint64
}

func newPlayout(maxSamples int) *playout {
	return &playout{max: maxSamples, buf: make([]int16, 0, 4096)}
}

// append queues assistant audio. It marks playback active at once, so the
// barrier is closed before the first frame goes out.
func (p *playout) append(pcm []int16) {
	if len(pcm) == 0 {
		return
	}
	p.mu.Lock()
	if p.off > 0 && p.off >= len(p.buf)/2 {
		// Compact rarely: playing reads by offset, so a frame costs no copy.
		p.buf = append(p.buf[:0], p.buf[p.off:]...)
		p.off = 0
	}
	p.buf = append(p.buf, pcm...)
	if over := len(p.buf) - p.off - p.max; over > 0 {
		p.off += over
		p.dropped += uint64(over)
	}
	p.mu.Unlock()
	p.playing.Store(true)
}

// next copies the next frame into dst (zero-padding a short tail) and
// reports whether there was audio. When the buffer runs dry playback is
// no longer active.
func (p *playout) next(dst []int16) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.off == len(p.buf) {
		p.buf, p.off = p.buf[:0], 0
		p.playing.Store(false)
		return false
	}
	n := copy(dst, p.buf[p.off:])
	clear(dst[n:])
	p.off += n
	p.frames.Add(1)
	return true
}

// clear drops everything queued (barge-in) and returns how many samples
// were cut.
func (p *playout) clear() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.buf) - p.off
	p.buf, p.off = p.buf[:0], 0
	p.playing.Store(false)
	return n
}

func (p *playout) active() bool { return p.playing.Load() }
