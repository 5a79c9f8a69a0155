// Package codec turns RTP audio payloads into the 20 ms, 16 kHz PCM frames
// the speech gate takes, and PCM into Opus packets for the outbound track.
//
// It does not import Pion: callers pass plain RTP fields (Packet), so one
// other package owns WebRTC. Opus goes through libopus (cgo, Debian's
// libopus-dev, found with pkg-config); PCMU is decoded in Go. Nothing here
// starts a goroutine: a Receiver is driven by its caller (Push, Pop with the
// current time), and none of its types is safe for concurrent use.
package codec

import (
	"errors"
	"fmt"
	"time"
)

// Output format of every decoder and of the Receiver.
const (
	// SampleRate of decoded PCM in Hz.
	SampleRate = 16000
	// FrameDuration of the frames a Receiver emits and an Encoder takes.
	FrameDuration = 20 * time.Millisecond
	// FrameSamples is FrameDuration at SampleRate.
	FrameSamples = SampleRate / 50

	// OpusClockRate is the RTP clock of Opus (RFC 7587), whatever the
	// audio's bandwidth.
	OpusClockRate = 48000
	// OpusPacketTicks is the RTP timestamp step of one 20 ms Opus packet.
	OpusPacketTicks = OpusClockRate / 50
	// PCMUClockRate is the RTP clock of PCMU (payload type 0).
	PCMUClockRate = 8000

	// MaxPayload bounds an RTP payload the package accepts; larger ones
	// cannot arrive in one UDP datagram on a normal path.
	MaxPayload = 1500
	// MaxPacketDuration bounds one packet's audio (Opus allows 120 ms).
	MaxPacketDuration = 120 * time.Millisecond
)

// Codec names an RTP audio payload format.
type Codec int

const (
	// CodecOpus is Opus (RFC 7587), 48 kHz RTP clock.
	CodecOpus Codec = iota + 1
	// CodecPCMU is G.711 mu-law, 8 kHz.
	CodecPCMU
)

func (c Codec) String() string {
	switch c {
	case CodecOpus:
		return "opus"
	case CodecPCMU:
		return "pcmu"
	}
	return fmt.Sprintf("codec(%d)", int(c))
}

// ClockRate is the codec's RTP clock in Hz (0 for an unknown codec).
func (c Codec) ClockRate() int {
	switch c {
	case CodecOpus:
		return OpusClockRate
	case CodecPCMU:
		return PCMUClockRate
	}
	return 0
}

// Packet is the part of an RTP packet the Receiver needs.
type Packet struct {
	SequenceNumber uint16
	Timestamp      uint32
	// Marker (start of a talkspurt) is informational: gaps are found from
	// sequence numbers and timestamps.
	Marker bool
	// Payload is copied by Receiver.Push; the caller may reuse it.
	Payload []byte
}

// PacketReason says why a payload was refused.
type PacketReason int

const (
	// ReasonEmpty: the payload has no bytes.
	ReasonEmpty PacketReason = iota + 1
	// ReasonTooLarge: the payload exceeds MaxPayload.
	ReasonTooLarge
	// ReasonMalformed: the codec cannot parse the payload.
	ReasonMalformed
	// ReasonDuration: the payload's audio is longer than MaxPacketDuration.
	ReasonDuration
)

func (r PacketReason) String() string {
	switch r {
	case ReasonEmpty:
		return "empty payload"
	case ReasonTooLarge:
		return "payload too large"
	case ReasonMalformed:
		return "malformed payload"
	case ReasonDuration:
		return "packet too long"
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// PacketError reports a payload the package refused. Err, when set, is the
// codec's own error.
type PacketError struct {
	Codec  Codec
	Reason PacketReason
	Size   int
	Err    error
}

func (e *PacketError) Error() string {
	s := fmt.Sprintf("%s: %s (%d bytes)", e.Codec, e.Reason, e.Size)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *PacketError) Unwrap() error { return e.Err }

// ConfigError reports a bad setting passed to a constructor.
type ConfigError struct {
	Field  string
	Detail string
}

func (e *ConfigError) Error() string { return "codec: " + e.Field + ": " + e.Detail }

// ErrFramerFull is returned when a Framer would buffer more than its bound.
var ErrFramerFull = errors.New("codec: framer buffer full")

// checkPayload applies the size bounds every codec shares.
func checkPayload(c Codec, p []byte) error {
	switch {
	case len(p) == 0:
		return &PacketError{Codec: c, Reason: ReasonEmpty}
	case len(p) > MaxPayload:
		return &PacketError{Codec: c, Reason: ReasonTooLarge, Size: len(p)}
	}
	return nil
}
