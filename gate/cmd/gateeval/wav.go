package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
)

// wavAudio is a decoded mono WAV file (first channel if several).
type wavAudio struct {
	Rate    int
	Samples []float32 // in [-1, 1]
}

// readWAV decodes 16-bit PCM or 32-bit float WAV. It walks the RIFF chunks
// rather than trusting a 44-byte header.
func readWAV(path string) (wavAudio, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return wavAudio{}, err
	}
	return parseWAV(b)
}

func parseWAV(b []byte) (wavAudio, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return wavAudio{}, errors.New("wav: not a RIFF/WAVE file")
	}
	var (
		format, channels, bits int
		rate                   int
		haveFmt                bool
	)
	p := 12
	for p+8 <= len(b) {
		id := string(b[p : p+4])
		size := int(binary.LittleEndian.Uint32(b[p+4 : p+8]))
		body := b[p+8:]
		if size > len(body) {
			size = len(body) // truncated file: take what is there
		}
		body = body[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return wavAudio{}, errors.New("wav: short fmt chunk")
			}
			format = int(binary.LittleEndian.Uint16(body[0:2]))
			channels = int(binary.LittleEndian.Uint16(body[2:4]))
			rate = int(binary.LittleEndian.Uint32(body[4:8]))
			bits = int(binary.LittleEndian.Uint16(body[14:16]))
			if format == 0xFFFE && size >= 26 { // WAVE_FORMAT_EXTENSIBLE: subformat code
				format = int(binary.LittleEndian.Uint16(body[24:26]))
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return wavAudio{}, errors.New("wav: data before fmt")
			}
			if channels < 1 {
				return wavAudio{}, errors.New("wav: no channels")
			}
			return decodePCM(body, format, channels, bits, rate)
		}
		p += 8 + size + size&1 // chunks are word aligned
	}
	return wavAudio{}, errors.New("wav: no data chunk")
}

func decodePCM(body []byte, format, channels, bits, rate int) (wavAudio, error) {
	out := wavAudio{Rate: rate}
	switch {
	case format == 1 && bits == 16:
		step := 2 * channels
		out.Samples = make([]float32, len(body)/step)
		for i := range out.Samples {
			v := int16(binary.LittleEndian.Uint16(body[i*step:]))
			out.Samples[i] = float32(v) / 32768
		}
	case format == 3 && bits == 32:
		step := 4 * channels
		out.Samples = make([]float32, len(body)/step)
		for i := range out.Samples {
			out.Samples[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[i*step:]))
		}
	default:
		return wavAudio{}, fmt.Errorf("wav: unsupported format %d with %d bits", format, bits)
	}
	return out, nil
}

// encodeWAV16 writes mono 16-bit PCM; used by the tests to build clips.
func encodeWAV16(rate int, x []float32) []byte {
	b := make([]byte, 44+2*len(x))
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*len(x)))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(2*rate))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*len(x)))
	for i, v := range x {
		s := math.Round(float64(v) * 32767)
		s = math.Max(-32768, math.Min(32767, s))
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(int16(s)))
	}
	return b
}
