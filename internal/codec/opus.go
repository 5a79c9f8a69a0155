package codec

import (
	"fmt"
)

// Decoder turns RTP payloads of one stream into 16 kHz mono PCM. A Decoder
// keeps state between packets (prediction, resampler history), so each
// stream needs its own.
type Decoder interface {
	Codec() Codec
	// Duration returns the payload's length in RTP clock ticks, or a
	// *PacketError for a payload the decoder cannot take.
	Duration(payload []byte) (int, error)
	// Decode writes the payload's audio into pcm and returns the number of
	// samples; pcm must hold MaxPacketDuration at SampleRate.
	Decode(payload []byte, pcm []int16) (int, error)
	// Conceal fills all of pcm for audio that was lost. next, when not
	// nil, is the packet that follows the loss: Opus recovers the end of
	// the gap from its in-band FEC, if it carries any. fec reports that
	// next was used.
	Conceal(pcm []int16, next []byte) (fec bool, err error)
}

// maxPacketSamples is MaxPacketDuration at SampleRate.
const maxPacketSamples = SampleRate * int(MaxPacketDuration/1e6) / 1000

// opusPLCQuantum is the granularity libopus conceals in: 2.5 ms at 16 kHz.
const opusPLCQuantum = SampleRate / 400

// OpusDecoder decodes Opus with libopus directly at 16 kHz (libopus
// resamples internally, so no separate 48k->16k step runs).
type OpusDecoder struct {
	dec *opusDec
}

// NewOpusDecoder returns a mono decoder with 16 kHz output.
func NewOpusDecoder() (*OpusDecoder, error) {
	d, err := newOpusDec(SampleRate)
	if err != nil {
		return nil, err
	}
	return &OpusDecoder{dec: d}, nil
}

// Codec reports CodecOpus.
func (d *OpusDecoder) Codec() Codec { return CodecOpus }

// Duration parses the packet's table of contents (RFC 6716 §3).
func (d *OpusDecoder) Duration(payload []byte) (int, error) {
	if err := checkPayload(CodecOpus, payload); err != nil {
		return 0, err
	}
	n, err := packetSamples(payload, OpusClockRate)
	if err != nil {
		return 0, &PacketError{Codec: CodecOpus, Reason: ReasonMalformed, Size: len(payload), Err: err}
	}
	if n > OpusClockRate*int(MaxPacketDuration/1e6)/1000 {
		return 0, &PacketError{Codec: CodecOpus, Reason: ReasonDuration, Size: len(payload)}
	}
	return n, nil
}

// Decode decodes one packet.
func (d *OpusDecoder) Decode(payload []byte, pcm []int16) (int, error) {
	if err := checkPayload(CodecOpus, payload); err != nil {
		return 0, err
	}
	n, err := d.dec.decode(payload, pcm[:min(len(pcm), maxPacketSamples)], false)
	if err != nil {
		return 0, &PacketError{Codec: CodecOpus, Reason: ReasonMalformed, Size: len(payload), Err: err}
	}
	return n, nil
}

// Conceal runs libopus packet-loss concealment over pcm and, when next is
// given, decodes the last frame of the gap from next's in-band FEC.
// Samples past the last whole 2.5 ms are zero.
func (d *OpusDecoder) Conceal(pcm []int16, next []byte) (bool, error) {
	whole := len(pcm) / opusPLCQuantum * opusPLCQuantum
	clear(pcm[whole:])
	pcm = pcm[:whole]
	fecLen := 0
	if len(next) > 0 && len(next) <= MaxPayload {
		// LBRR covers one frame of next's own frame size.
		if n, err := packetSamples(next, SampleRate); err == nil {
			if fr := n / max(1, frameCount(next)); fr > 0 && fr <= len(pcm) && fr%opusPLCQuantum == 0 {
				fecLen = fr
			}
		}
	}
	plc := pcm[:len(pcm)-fecLen]
	for len(plc) > 0 {
		// libopus conceals up to 120 ms per call; 20 ms keeps each call short.
		n := min(len(plc), FrameSamples)
		if _, err := d.dec.decode(nil, plc[:n], false); err != nil {
			clear(plc)
			return false, fmt.Errorf("opus concealment: %w", err)
		}
		plc = plc[n:]
	}
	if fecLen == 0 {
		return false, nil
	}
	if _, err := d.dec.decode(next, pcm[len(pcm)-fecLen:], true); err != nil {
		clear(pcm[len(pcm)-fecLen:])
		return false, fmt.Errorf("opus fec: %w", err)
	}
	return true, nil
}

// frameCount is the number of Opus frames in a packet (RFC 6716 §3.2), 0 if
// it cannot tell.
func frameCount(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	switch p[0] & 3 {
	case 0:
		return 1
	case 1, 2:
		return 2
	}
	if len(p) < 2 {
		return 0
	}
	return int(p[1] & 0x3f)
}

// EncoderConfig configures an Encoder. Zero values take the defaults.
type EncoderConfig struct {
	// SampleRate of the PCM passed in: 8000, 12000, 16000, 24000 or 48000
	// (libopus encodes each natively; the RTP clock stays 48 kHz).
	// Default 24000, what realtime models send.
	SampleRate int
	// Bitrate in bit/s, 6000..128000. Default 32000.
	Bitrate int
	// Complexity 1..10 (CPU against quality). Default 5: half the CPU of
	// the 9 desktop browsers use (BENCHMARKS.md), and the encoder is the
	// largest codec cost per session.
	Complexity int
	// PacketLossPercent the encoder protects against with in-band FEC,
	// 0..100. Default 10.
	PacketLossPercent int
	// NoFEC turns in-band FEC off (it is on by default, as in browsers).
	NoFEC bool
	// DTX lets the encoder send tiny packets in silence.
	DTX bool
}

// Encoder encodes 20 ms PCM16 mono frames to Opus packets (application
// VOIP, voice signal) for a 48 kHz RTP clock: each packet advances the
// RTP timestamp by OpusPacketTicks.
type Encoder struct {
	cfg EncoderConfig
	enc *opusEnc
}

// NewEncoder validates cfg and creates the encoder.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	if cfg.SampleRate == 0 {
		cfg.SampleRate = 24000
	}
	switch cfg.SampleRate {
	case 8000, 12000, 16000, 24000, 48000:
	default:
		return nil, &ConfigError{Field: "SampleRate", Detail: fmt.Sprintf("%d Hz is not 8000, 12000, 16000, 24000 or 48000", cfg.SampleRate)}
	}
	if cfg.Bitrate == 0 {
		cfg.Bitrate = 32000
	}
	if cfg.Bitrate < 6000 || cfg.Bitrate > 128000 {
		return nil, &ConfigError{Field: "Bitrate", Detail: fmt.Sprintf("%d bit/s is outside 6000..128000", cfg.Bitrate)}
	}
	if cfg.Complexity == 0 {
		cfg.Complexity = 5
	}
	if cfg.Complexity < 1 || cfg.Complexity > 10 {
		return nil, &ConfigError{Field: "Complexity", Detail: fmt.Sprintf("%d is outside 1..10", cfg.Complexity)}
	}
	if cfg.PacketLossPercent == 0 && !cfg.NoFEC {
		cfg.PacketLossPercent = 10
	}
	if cfg.PacketLossPercent < 0 || cfg.PacketLossPercent > 100 {
		return nil, &ConfigError{Field: "PacketLossPercent", Detail: fmt.Sprintf("%d is outside 0..100", cfg.PacketLossPercent)}
	}
	e, err := newOpusEnc(cfg.SampleRate, cfg.Bitrate, cfg.PacketLossPercent, cfg.Complexity, !cfg.NoFEC, cfg.DTX)
	if err != nil {
		return nil, err
	}
	return &Encoder{cfg: cfg, enc: e}, nil
}

// Config returns the settings in force, defaults filled in.
func (e *Encoder) Config() EncoderConfig { return e.cfg }

// FrameSamples is the number of input samples per 20 ms frame.
func (e *Encoder) FrameSamples() int { return e.cfg.SampleRate / 50 }

// MaxPacketBytes is enough room for any packet Encode writes.
const MaxPacketBytes = 1275

// Encode encodes exactly one 20 ms frame into out (MaxPacketBytes is
// enough) and returns the packet's length.
func (e *Encoder) Encode(pcm []int16, out []byte) (int, error) {
	if len(pcm) != e.FrameSamples() {
		return 0, &ConfigError{Field: "pcm", Detail: fmt.Sprintf("%d samples, want %d (20 ms at %d Hz)", len(pcm), e.FrameSamples(), e.cfg.SampleRate)}
	}
	n, err := e.enc.encode(pcm, out[:min(len(out), MaxPacketBytes)])
	if err != nil {
		return 0, fmt.Errorf("opus encode: %w", err)
	}
	return n, nil
}
