package voice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/inferflow/inferflow/internal/codec"
	"github.com/inferflow/inferflow/internal/rtc"
)

// The media adapters between a WebRTC peer (internal/rtc) and the session:
// RTP in → jitter buffer and decoder → 20 ms frames; 20 ms frames →
// Opus encoder → RTP out.

// tsOffset keeps the first frame's timestamp above zero: the gate reads a
// zero timestamp as "unknown", and a stream must have timestamps on all of
// its frames or on none.
const tsOffset = time.Millisecond

// PacketReader is the inbound half of a peer (*rtc.Session). ReadPacket
// returns a packet already queued even when ctx is done, so the Mic can
// take what has arrived without waiting.
type PacketReader interface {
	ReadPacket(ctx context.Context) (rtc.Packet, error)
}

// queuedOnly is a done context: ReadPacket with it returns only packets
// that are already waiting.
var queuedOnly = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// Mic decodes a peer's audio RTP into the session's microphone frames.
type Mic struct {
	peer    PacketReader
	rx      *codec.Receiver
	arrival time.Time

	// stats is a copy of the receiver's counters for other goroutines (the
	// receiver itself belongs to the microphone loop).
	mu    sync.Mutex
	stats codec.ReceiverStats
}

// NewMic returns a FrameSource for a peer whose negotiated inbound codec
// has the given MIME type (audio/opus or audio/PCMU).
func NewMic(peer PacketReader, mimeType string, jitter time.Duration) (*Mic, error) {
	var c codec.Codec
	switch strings.ToLower(mimeType) {
	case "audio/opus":
		c = codec.CodecOpus
	case "audio/pcmu":
		c = codec.CodecPCMU
	default:
		return nil, fmt.Errorf("voice: inbound codec %q is not supported (want Opus or PCMU)", mimeType)
	}
	rx, err := codec.NewReceiver(codec.ReceiverConfig{Codec: c, JitterDelay: jitter})
	if err != nil {
		return nil, err
	}
	return &Mic{peer: peer, rx: rx}, nil
}

// NextFrame implements FrameSource. While no packet comes it still wakes
// every 20 ms, so a lost packet is concealed after the jitter delay and the
// gate's clock keeps going.
func (m *Mic) NextFrame(ctx context.Context) (MicFrame, error) {
	for {
		// Take what has arrived before asking the clock: a loop woken late
		// must not conceal frames whose packets are waiting in the queue.
		for {
			p, err := m.peer.ReadPacket(queuedOnly)
			if err != nil {
				break
			}
			m.push(p)
		}
		if f, ok := m.rx.Pop(time.Now()); ok {
			m.mu.Lock()
			m.stats = m.rx.Stats()
			m.mu.Unlock()
			return MicFrame{PCM: f.PCM, Timestamp: f.Timestamp + tsOffset, Concealed: f.Concealed, Arrival: m.arrival}, nil
		}
		wait, cancel := context.WithTimeout(ctx, FrameDuration)
		p, err := m.peer.ReadPacket(wait)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				m.arrival = time.Time{}
				continue
			}
			return MicFrame{}, err
		}
		m.push(p)
	}
}

func (m *Mic) push(p rtc.Packet) {
	m.arrival = p.Arrival
	// A bad packet is counted by the receiver (Invalid) and never stops the
	// call.
	_ = m.rx.Push(codec.Packet{SequenceNumber: p.SequenceNumber, Timestamp: p.Timestamp, Marker: p.Marker, Payload: p.Payload}, p.Arrival)
}

// Stats returns the jitter buffer's counters as of the last frame; safe
// from any goroutine.
func (m *Mic) Stats() codec.ReceiverStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// AudioWriter is the outbound half of a peer.
type AudioWriter interface {
	WriteAudio(payload []byte, duration time.Duration) error
}

// Speaker encodes the session's playout frames to Opus for a peer.
type Speaker struct {
	peer AudioWriter
	enc  *codec.Encoder
	buf  [codec.MaxPacketBytes]byte
}

// NewSpeaker returns an AudioSink that encodes PlayoutRate frames.
func NewSpeaker(peer AudioWriter) (*Speaker, error) {
	enc, err := codec.NewEncoder(codec.EncoderConfig{SampleRate: PlayoutRate})
	if err != nil {
		return nil, err
	}
	return &Speaker{peer: peer, enc: enc}, nil
}

// WriteFrame implements AudioSink.
func (s *Speaker) WriteFrame(pcm []int16) error {
	n, err := s.enc.Encode(pcm, s.buf[:])
	if err != nil {
		return err
	}
	return s.peer.WriteAudio(s.buf[:n], FrameDuration)
}
