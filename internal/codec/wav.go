package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// maxWAVBytes bounds the audio data ReadWAV accepts (about 10 minutes at
// 48 kHz), so a bad header cannot make it allocate without limit.
const maxWAVBytes = 64 << 20

// ReadWAV reads a mono 16-bit PCM WAV stream and returns its samples and
// sample rate.
func ReadWAV(r io.Reader) ([]int16, int, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, fmt.Errorf("wav header: %w", err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, 0, errors.New("wav: not a RIFF/WAVE stream")
	}
	rate := 0
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return nil, 0, fmt.Errorf("wav: no data chunk: %w", err)
		}
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch string(ch[0:4]) {
		case "fmt ":
			if size < 16 || size > 1024 {
				return nil, 0, fmt.Errorf("wav: fmt chunk of %d bytes", size)
			}
			f := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, f); err != nil {
				return nil, 0, fmt.Errorf("wav fmt: %w", err)
			}
			format := binary.LittleEndian.Uint16(f[0:2])
			channels := binary.LittleEndian.Uint16(f[2:4])
			rate = int(binary.LittleEndian.Uint32(f[4:8]))
			bits := binary.LittleEndian.Uint16(f[14:16])
			if (format != 1 && format != 0xfffe) || channels != 1 || bits != 16 {
				return nil, 0, fmt.Errorf("wav: want mono 16-bit PCM, have format %d, %d channels, %d bits", format, channels, bits)
			}
			if rate < 8000 || rate > 48000 {
				return nil, 0, fmt.Errorf("wav: sample rate %d outside 8000..48000", rate)
			}
		case "data":
			if rate == 0 {
				return nil, 0, errors.New("wav: data before fmt chunk")
			}
			if size > maxWAVBytes {
				return nil, 0, fmt.Errorf("wav: %d bytes of audio exceed %d", size, maxWAVBytes)
			}
			b := make([]byte, size&^1)
			n, err := io.ReadFull(r, b)
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, 0, fmt.Errorf("wav data: %w", err)
			}
			b = b[:n&^1] // tolerate a truncated data chunk
			pcm := make([]int16, len(b)/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
			}
			return pcm, rate, nil
		default:
			if _, err := io.CopyN(io.Discard, r, size+size%2); err != nil {
				return nil, 0, fmt.Errorf("wav: skipping %q: %w", ch[0:4], err)
			}
		}
	}
}

// EncodeWAV reads a mono 16-bit WAV (8, 16, 24 or 48 kHz) and encodes it
// as a browser sends a microphone: upsampled to 48 kHz, 20 ms Opus packets,
// application VOIP, 32 kbit/s, complexity 9, in-band FEC on (cfg may change
// bitrate, FEC, complexity and DTX; its SampleRate is ignored). The last
// partial frame is padded with silence. Packet k has RTP timestamp
// k×OpusPacketTicks.
func EncodeWAV(r io.Reader, cfg EncoderConfig) ([][]byte, error) {
	pcm, rate, err := ReadWAV(r)
	if err != nil {
		return nil, err
	}
	return EncodePCM(pcm, rate, cfg)
}

// EncodePCM is EncodeWAV for samples already in memory.
func EncodePCM(pcm []int16, rate int, cfg EncoderConfig) ([][]byte, error) {
	switch rate {
	case 8000, 16000, 24000, 48000:
	default:
		return nil, &ConfigError{Field: "rate", Detail: fmt.Sprintf("%d Hz is not 8000, 16000, 24000 or 48000", rate)}
	}
	if factor := 48000 / rate; factor > 1 {
		up := newUpsampler(factor)
		// Pad the input so the filter's tail comes out, then drop its
		// delay so packet k carries input time k×20 ms.
		pad := (up.delay() + factor - 1) / factor
		in := append(append(make([]int16, 0, len(pcm)+pad), pcm...), make([]int16, pad)...)
		wide := make([]int16, len(in)*factor)
		up.process(in, wide)
		pcm = wide[up.delay() : up.delay()+len(pcm)*factor]
	}
	cfg.SampleRate = 48000
	if cfg.Complexity == 0 {
		cfg.Complexity = 9 // as a desktop browser encodes
	}
	enc, err := NewEncoder(cfg)
	if err != nil {
		return nil, err
	}
	fr, _ := NewFramer(48000)
	out := make([]byte, MaxPacketBytes)
	var pkts [][]byte
	emit := func(frame []int16) error {
		n, err := enc.Encode(frame, out)
		if err != nil {
			return err
		}
		pkts = append(pkts, append([]byte(nil), out[:n]...))
		return nil
	}
	for len(pcm) > 0 {
		chunk := pcm[:min(len(pcm), 48000)]
		pcm = pcm[len(chunk):]
		if err := fr.Write(chunk); err != nil {
			return nil, err
		}
		for f, ok := fr.Next(); ok; f, ok = fr.Next() {
			if err := emit(f); err != nil {
				return nil, err
			}
		}
	}
	if f, ok := fr.Flush(); ok {
		if err := emit(f); err != nil {
			return nil, err
		}
	}
	return pkts, nil
}
