package codec

import (
	"errors"
	"fmt"
	"time"
)

// ReceiverConfig configures a Receiver. Zero values take the defaults.
type ReceiverConfig struct {
	// Codec of the stream (required).
	Codec Codec
	// JitterDelay is how long a missing packet is waited for before it is
	// concealed: once a later packet has waited this long, or once nothing
	// has arrived for this long past the missing packet's due time.
	// Zero means 60 ms; at most 1 s. Packets in order are released at
	// once; only the stream's first packet waits the full delay (so one
	// reordered ahead of it still counts).
	JitterDelay time.Duration
	// MaxConceal bounds the audio made up for one gap: a longer gap (the
	// sender paused, or a long outage) is not filled, and the frame
	// timestamps jump over it instead. Zero means 300 ms; 20 ms..5 s.
	MaxConceal time.Duration
	// Decoder overrides the codec's decoder (tests, benchmarks). Its Codec
	// must match.
	Decoder Decoder
}

// Frame is 20 ms of decoded audio at 16 kHz.
type Frame struct {
	// PCM holds FrameSamples samples. It is owned by the Receiver and
	// valid until the next call on it.
	PCM []int16
	// Timestamp is the time of the first sample since the stream's first
	// packet, from RTP timestamps.
	Timestamp time.Duration
	// Concealed is set when any sample of the frame is made up (loss
	// concealment, FEC, or silence filling a gap) rather than decoded.
	Concealed bool
}

// ReceiverStats counts what a Receiver saw. Received = played + Late +
// Duplicate + Invalid (+ those still buffered).
type ReceiverStats struct {
	// Received counts every Push.
	Received uint64
	// Lost counts sequence numbers that were never played: skipped after
	// the jitter delay, or arrived after their time had been concealed.
	Lost uint64
	// Late counts packets that arrived after their turn (dropped).
	Late uint64
	// Duplicate counts packets already received (dropped).
	Duplicate uint64
	// Reordered counts packets that arrived after a higher sequence number.
	Reordered uint64
	// Invalid counts payloads refused by Push or failing to decode.
	Invalid uint64
	// FEC counts gaps whose end was decoded from the next packet's FEC.
	FEC uint64
	// Frames counts frames emitted; Concealed those flagged Concealed.
	Frames    uint64
	Concealed uint64
	// Resyncs counts jumps of the frame clock over a gap longer than
	// MaxConceal.
	Resyncs uint64
}

const (
	// ringSize bounds the packets held: 256 × 20 ms = 5 s ahead of the
	// next one due, far beyond any jitter delay.
	ringSize = 256
	seenSize = 1024
	// seqBase keeps extended sequence numbers positive.
	seqBase = 1 << 16
)

type slot struct {
	ext     int64
	present bool
	ts      uint32
	dur     int // RTP ticks
	arrival time.Time
	payload []byte
}

// Receiver turns the RTP packets of one audio stream into 20 ms, 16 kHz
// frames: a jitter buffer keyed by sequence number (reorders, drops
// duplicates and late packets, conceals losses), a decoder, and a reframer
// timed by RTP timestamps, so the frame clock stays right across loss.
//
// The caller drives it: Push each packet, then Pop frames until it reports
// none; call Pop also on a timer (every 20 ms) so a loss is concealed after
// the jitter delay even if no later packet arrives. Not safe for
// concurrent use.
type Receiver struct {
	cfg   ReceiverConfig
	dec   Decoder
	clock int64 // RTP ticks per second
	delay time.Duration
	// maxConcealTicks is MaxConceal in RTP ticks.
	maxConcealTicks int64

	started  bool
	next     int64 // extended sequence number due next
	highest  int64
	buffered int
	ring     [ringSize]slot
	seen     [seenSize]int64

	pos          int64 // extended RTP timestamp of the next sample due
	base         int64 // extended RTP timestamp of the first packet
	lastDur      int
	due          time.Time // when packet next is expected to have arrived
	hold         time.Time // nothing is released before (the first arrival + delay)
	played       bool      // a packet has been released
	concealRun   int64     // ticks concealed since the last decoded packet
	afterSeqLoss bool      // the head packet follows skipped sequence numbers

	// reframer
	acc          []int16
	accStart     int64 // 16 kHz sample index of acc[0] since base
	out16        int64 // 16 kHz sample index of the next sample appended
	accConcealed bool
	ready        []Frame
	readyHead    int
	pool         [][]int16
	lastOut      []int16
	scratch      []int16

	stats ReceiverStats
}

// NewReceiver validates cfg and creates the Receiver and its decoder.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	if cfg.Codec.ClockRate() == 0 {
		return nil, &ConfigError{Field: "Codec", Detail: fmt.Sprintf("unknown codec %v", cfg.Codec)}
	}
	if cfg.JitterDelay == 0 {
		cfg.JitterDelay = 60 * time.Millisecond
	}
	if cfg.JitterDelay < 0 || cfg.JitterDelay > time.Second {
		return nil, &ConfigError{Field: "JitterDelay", Detail: fmt.Sprintf("%v is outside 0..1s", cfg.JitterDelay)}
	}
	if cfg.MaxConceal == 0 {
		cfg.MaxConceal = 300 * time.Millisecond
	}
	if cfg.MaxConceal < FrameDuration || cfg.MaxConceal > 5*time.Second {
		return nil, &ConfigError{Field: "MaxConceal", Detail: fmt.Sprintf("%v is outside 20ms..5s", cfg.MaxConceal)}
	}
	dec := cfg.Decoder
	if dec == nil {
		var err error
		if dec, err = NewDecoder(cfg.Codec); err != nil {
			return nil, err
		}
	} else if dec.Codec() != cfg.Codec {
		return nil, &ConfigError{Field: "Decoder", Detail: fmt.Sprintf("decoder is %v, stream is %v", dec.Codec(), cfg.Codec)}
	}
	clock := int64(cfg.Codec.ClockRate())
	r := &Receiver{
		cfg:             cfg,
		dec:             dec,
		clock:           clock,
		delay:           cfg.JitterDelay,
		maxConcealTicks: int64(cfg.MaxConceal) * clock / int64(time.Second),
		lastDur:         int(clock / 50),
		acc:             make([]int16, 0, FrameSamples),
		scratch:         make([]int16, maxPacketSamples),
	}
	return r, nil
}

// NewDecoder returns the package's decoder for c.
func NewDecoder(c Codec) (Decoder, error) {
	switch c {
	case CodecOpus:
		return NewOpusDecoder()
	case CodecPCMU:
		return NewPCMUDecoder(), nil
	}
	return nil, &ConfigError{Field: "Codec", Detail: fmt.Sprintf("unknown codec %v", c)}
}

// Stats returns the counters so far.
func (r *Receiver) Stats() ReceiverStats { return r.stats }

// Push hands the Receiver one packet received at now. It returns a
// *PacketError for a payload it refuses (counted as Invalid); duplicates
// and late packets are not errors, only counted.
func (r *Receiver) Push(p Packet, now time.Time) error {
	r.stats.Received++
	dur, err := r.dec.Duration(p.Payload)
	if err != nil {
		r.stats.Invalid++
		var pe *PacketError
		if !errors.As(err, &pe) {
			err = &PacketError{Codec: r.cfg.Codec, Reason: ReasonMalformed, Size: len(p.Payload), Err: err}
		}
		return err
	}
	if int64(dur)*int64(time.Second) > int64(MaxPacketDuration)*r.clock {
		r.stats.Invalid++
		return &PacketError{Codec: r.cfg.Codec, Reason: ReasonDuration, Size: len(p.Payload)}
	}
	if !r.started {
		r.started = true
		r.next = seqBase + int64(p.SequenceNumber)
		r.highest = r.next
		r.pos = 1 << 32 // keeps extended timestamps positive
		r.pos += int64(p.Timestamp)
		r.base = r.pos
		r.due = now
		r.hold = now.Add(r.delay)
	}
	ext := r.highest + int64(int16(p.SequenceNumber-uint16(r.highest)))
	switch {
	case r.seen[ext%seenSize] == ext:
		r.stats.Duplicate++
		return nil
	case ext < r.next && !r.played && ext > r.highest-ringSize:
		// Reordered ahead of the first packet, before anything was
		// played: start the stream earlier.
		ts := r.pos + int64(int32(p.Timestamp-uint32(r.pos)))
		if ts < r.pos {
			r.pos, r.base = ts, ts
		}
		r.next = ext
	case ext < r.next:
		r.stats.Late++
		return nil
	}
	if ext >= r.next+ringSize {
		// Far ahead: the sender jumped. Play what is held, then skip.
		r.releaseAll()
		r.stats.Lost += uint64(ext - r.next)
		r.next = ext
		r.afterSeqLoss = true
	}
	if ext < r.highest {
		r.stats.Reordered++
	} else {
		r.highest = ext
	}
	r.seen[ext%seenSize] = ext
	s := &r.ring[ext%ringSize]
	s.ext, s.present, s.ts, s.dur, s.arrival = ext, true, p.Timestamp, dur, now
	s.payload = append(s.payload[:0], p.Payload...)
	r.buffered++
	return nil
}

// Pop returns the next frame ready at now, releasing buffered packets and
// concealing losses whose jitter delay has passed.
func (r *Receiver) Pop(now time.Time) (Frame, bool) {
	for r.readyHead == len(r.ready) {
		if !r.step(now, false) {
			return Frame{}, false
		}
	}
	return r.popReady(), true
}

// Drain releases everything held, concealing remaining gaps without
// waiting, and pads the last partial frame with silence; Pop then returns
// the rest. Use it at the end of a stream.
func (r *Receiver) Drain() {
	r.releaseAll()
	r.padAcc()
}

// padAcc emits the partial frame, padded with silence.
func (r *Receiver) padAcc() {
	if n := len(r.acc); n > 0 {
		r.acc = r.acc[:FrameSamples]
		clear(r.acc[n:])
		r.accConcealed = true
		r.emitAcc()
	}
}

func (r *Receiver) releaseAll() {
	for r.buffered > 0 && r.step(time.Time{}, true) {
	}
}

func (r *Receiver) popReady() Frame {
	f := r.ready[r.readyHead]
	r.ready[r.readyHead] = Frame{}
	r.readyHead++
	if r.readyHead == len(r.ready) {
		r.ready, r.readyHead = r.ready[:0], 0
	}
	// The previous frame's buffer is free again: the caller was told it
	// is valid only until this call.
	if r.lastOut != nil {
		r.pool = append(r.pool, r.lastOut)
	}
	r.lastOut = f.PCM
	return f
}

// step releases or conceals one packet's worth; false when nothing is due.
// With force (Drain) missing packets are not waited for.
func (r *Receiver) step(now time.Time, force bool) bool {
	if !r.started || (!force && now.Before(r.hold)) {
		return false
	}
	s := &r.ring[r.next%ringSize]
	if s.present && s.ext == r.next {
		r.release(s)
		return true
	}
	if r.buffered > 0 {
		// The head is missing; find the first packet held after it.
		first := int64(-1)
		var oldest time.Time
		for e := r.next + 1; e <= r.highest && e < r.next+ringSize; e++ {
			t := &r.ring[e%ringSize]
			if !t.present || t.ext != e {
				continue
			}
			if first < 0 {
				first = e
			}
			if oldest.IsZero() || t.arrival.Before(oldest) {
				oldest = t.arrival
			}
		}
		if first < 0 { // cannot happen: buffered counts held packets
			r.buffered = 0
			return false
		}
		if !force && now.Sub(oldest) < r.delay {
			return false
		}
		r.stats.Lost += uint64(first - r.next)
		r.next = first
		r.afterSeqLoss = true
		return true
	}
	// Nothing held: conceal on time, one packet's duration at a time, up
	// to MaxConceal, so the clock runs on while packets are delayed.
	if force || r.concealRun >= r.maxConcealTicks || now.Sub(r.due) < r.delay {
		return false
	}
	r.conceal(int64(r.lastDur), nil)
	r.due = r.due.Add(time.Duration(int64(r.lastDur) * int64(time.Second) / r.clock))
	return true
}

// release plays the head packet, filling any gap before it.
func (r *Receiver) release(s *slot) {
	s.present = false
	r.buffered--
	r.next++
	r.played = true
	afterLoss := r.afterSeqLoss
	r.afterSeqLoss = false
	ts := r.pos + int64(int32(s.ts-uint32(r.pos)))
	end := ts + int64(s.dur)
	if end <= r.pos {
		// Its time was already concealed while waiting.
		r.stats.Late++
		r.stats.Lost++
		return
	}
	if gap := ts - r.pos; gap > 0 {
		if gap > r.maxConcealTicks {
			r.resync(ts)
		} else {
			var next []byte
			if afterLoss {
				next = s.payload
			}
			r.conceal(gap, next)
		}
	}
	n, err := r.dec.Decode(s.payload, r.scratch)
	pcm := r.scratch[:n]
	concealed := false
	if err != nil {
		r.stats.Invalid++
		r.stats.Lost++
		// Keep the clock: conceal the packet's duration instead.
		pcm = r.scratch[:min(int(r.ticksTo16k(int64(s.dur))), len(r.scratch))]
		if _, cerr := r.dec.Conceal(pcm, nil); cerr != nil {
			clear(pcm)
		}
		concealed = true
	}
	if skip := int(r.ticksTo16k(r.pos - ts)); skip > 0 {
		// Partly concealed already: play only the rest.
		pcm = pcm[min(skip, len(pcm)):]
	}
	r.appendPCM(pcm, concealed)
	r.pos = end
	r.lastDur = s.dur
	arr := s.arrival
	if arr.Before(r.due) {
		arr = r.due
	}
	r.due = arr.Add(time.Duration(int64(s.dur) * int64(time.Second) / r.clock))
	r.concealRun = 0
}

// conceal makes up ticks of audio at pos (next: the packet after the gap,
// for FEC, or nil).
func (r *Receiver) conceal(ticks int64, next []byte) {
	total := int(r.ticksTo16k(ticks))
	for total > 0 {
		n := min(total, len(r.scratch))
		pcm := r.scratch[:n]
		var nx []byte
		if n == total {
			nx = next // FEC covers the end of the gap only
		}
		fec, err := r.dec.Conceal(pcm, nx)
		if err != nil {
			clear(pcm)
		}
		if fec {
			r.stats.FEC++
		}
		r.appendPCM(pcm, true)
		total -= n
	}
	r.pos += ticks
	r.concealRun += ticks
}

// resync jumps the frame clock to ts: the partial frame is padded and
// emitted, and the next frame starts at ts.
func (r *Receiver) resync(ts int64) {
	r.stats.Resyncs++
	r.padAcc()
	r.pos = ts
	r.out16 = r.ticksTo16k(ts - r.base)
}

func (r *Receiver) ticksTo16k(t int64) int64 { return t * SampleRate / r.clock }

// appendPCM adds decoded or concealed samples to the frame being built.
func (r *Receiver) appendPCM(pcm []int16, concealed bool) {
	for len(pcm) > 0 {
		if len(r.acc) == 0 {
			r.accStart = r.out16
			r.accConcealed = false
		}
		n := min(len(pcm), FrameSamples-len(r.acc))
		r.acc = append(r.acc, pcm[:n]...)
		r.out16 += int64(n)
		r.accConcealed = r.accConcealed || concealed
		pcm = pcm[n:]
		if len(r.acc) == FrameSamples {
			r.emitAcc()
		}
	}
}

func (r *Receiver) emitAcc() {
	var buf []int16
	if n := len(r.pool); n > 0 {
		buf, r.pool = r.pool[n-1], r.pool[:n-1]
	} else {
		buf = make([]int16, FrameSamples)
	}
	copy(buf, r.acc)
	r.ready = append(r.ready, Frame{
		PCM:       buf,
		Timestamp: time.Duration(r.accStart) * time.Second / SampleRate,
		Concealed: r.accConcealed,
	})
	r.stats.Frames++
	if r.accConcealed {
		r.stats.Concealed++
	}
	r.acc = r.acc[:0]
	r.accConcealed = false
}
