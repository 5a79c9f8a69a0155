package codec

import "fmt"

// MaxFramerBuffer bounds the audio a Framer holds (10 s), so a producer
// that outruns its consumer gets ErrFramerFull instead of growing memory.
const MaxFramerBuffer = 10

// Framer cuts a PCM16 mono stream of any chunk sizes into 20 ms frames,
// keeping the remainder for the next write. It does no pacing.
type Framer struct {
	rate     int
	size     int
	buf      []int16
	off      int // start of unread samples in buf
	odd      byte
	haveOdd  bool
	maxAudio int
}

// NewFramer returns a Framer for PCM at sampleRate (8000..48000 Hz, a
// multiple of 50 so a frame is a whole number of samples).
func NewFramer(sampleRate int) (*Framer, error) {
	if sampleRate < 8000 || sampleRate > 48000 || sampleRate%50 != 0 {
		return nil, &ConfigError{Field: "sampleRate", Detail: fmt.Sprintf("%d Hz is not a multiple of 50 in 8000..48000", sampleRate)}
	}
	return &Framer{rate: sampleRate, size: sampleRate / 50, maxAudio: sampleRate * MaxFramerBuffer}, nil
}

// FrameSamples is the number of samples per 20 ms frame.
func (f *Framer) FrameSamples() int { return f.size }

// Buffered is the number of samples held and not yet returned.
func (f *Framer) Buffered() int { return len(f.buf) - f.off }

func (f *Framer) room(n int) error {
	if f.Buffered()+n > f.maxAudio {
		return ErrFramerFull
	}
	if f.off > 0 && f.off >= len(f.buf)/2 {
		// Compact so the buffer does not creep forward forever.
		n := copy(f.buf, f.buf[f.off:])
		f.buf = f.buf[:n]
		f.off = 0
	}
	return nil
}

// Write appends samples. Nothing is written when the bound would be passed.
func (f *Framer) Write(pcm []int16) error {
	if err := f.room(len(pcm)); err != nil {
		return err
	}
	f.buf = append(f.buf, pcm...)
	return nil
}

// WriteBytes appends little-endian PCM16 bytes (as a realtime API's audio
// deltas carry them). An odd trailing byte is kept for the next call.
func (f *Framer) WriteBytes(le []byte) error {
	if err := f.room((len(le) + 1) / 2); err != nil {
		return err
	}
	if f.haveOdd && len(le) > 0 {
		f.buf = append(f.buf, int16(uint16(f.odd)|uint16(le[0])<<8))
		le = le[1:]
		f.haveOdd = false
	}
	for len(le) >= 2 {
		f.buf = append(f.buf, int16(uint16(le[0])|uint16(le[1])<<8))
		le = le[2:]
	}
	if len(le) == 1 {
		f.odd, f.haveOdd = le[0], true
	}
	return nil
}

// Next returns the next whole frame, if one is buffered. The slice is valid
// until the next call on the Framer.
func (f *Framer) Next() ([]int16, bool) {
	if f.Buffered() < f.size {
		return nil, false
	}
	fr := f.buf[f.off : f.off+f.size]
	f.off += f.size
	return fr, true
}

// Flush returns the next frame, padding a final partial one with silence
// (false once nothing is buffered): call it until false at the end of a
// response.
func (f *Framer) Flush() ([]int16, bool) {
	n := f.Buffered()
	f.haveOdd = false
	if n == 0 {
		return nil, false
	}
	for range f.size - n {
		f.buf = append(f.buf, 0)
	}
	return f.Next()
}

// Reset drops everything buffered, e.g. when a response is cancelled.
func (f *Framer) Reset() {
	f.buf, f.off, f.haveOdd = f.buf[:0], 0, false
}
