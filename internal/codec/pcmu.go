package codec

// G.711 mu-law (ITU-T G.711), the classic segment/mantissa form.

const muBias = 0x84

// MulawDecode expands one mu-law byte to a 16-bit sample.
func MulawDecode(b byte) int16 {
	b = ^b
	t := (int32(b&0x0f) << 3) + muBias
	t <<= (b & 0x70) >> 4
	if b&0x80 != 0 {
		return int16(muBias - t)
	}
	return int16(t - muBias)
}

// MulawEncode compresses one 16-bit sample to mu-law.
func MulawEncode(s int16) byte {
	const clip = 32635
	v := int32(s)
	sign := byte(0)
	if v < 0 {
		v = -v
		sign = 0x80
	}
	if v > clip {
		v = clip
	}
	v += muBias
	exp := byte(7)
	for mask := int32(0x4000); v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := byte(v>>(exp+3)) & 0x0f
	return ^(sign | exp<<4 | mant)
}

// EncodePCMU appends the mu-law bytes of 8 kHz PCM to dst.
func EncodePCMU(dst []byte, pcm []int16) []byte {
	for _, s := range pcm {
		dst = append(dst, MulawEncode(s))
	}
	return dst
}

// PCMUDecoder decodes G.711 mu-law at 8 kHz to 16 kHz PCM.
type PCMUDecoder struct {
	up   *upsampler
	narr []int16
}

// NewPCMUDecoder returns a decoder with its own resampler state.
func NewPCMUDecoder() *PCMUDecoder {
	return &PCMUDecoder{up: newUpsampler(SampleRate / PCMUClockRate), narr: make([]int16, 0, MaxPayload)}
}

// Codec reports CodecPCMU.
func (d *PCMUDecoder) Codec() Codec { return CodecPCMU }

// Duration is the payload's length in RTP ticks: one byte per sample.
func (d *PCMUDecoder) Duration(payload []byte) (int, error) {
	if err := checkPayload(CodecPCMU, payload); err != nil {
		return 0, err
	}
	return len(payload), nil
}

// Decode writes 2×len(payload) samples at 16 kHz to pcm.
func (d *PCMUDecoder) Decode(payload []byte, pcm []int16) (int, error) {
	if err := checkPayload(CodecPCMU, payload); err != nil {
		return 0, err
	}
	if len(pcm) < 2*len(payload) {
		return 0, &ConfigError{Field: "pcm", Detail: "output buffer too small"}
	}
	d.narr = d.narr[:0]
	for _, b := range payload {
		d.narr = append(d.narr, MulawDecode(b))
	}
	return d.up.process(d.narr, pcm), nil
}

// Conceal fills pcm with silence (run through the resampler, so the last
// real audio fades out instead of stopping mid-filter). PCMU has no FEC.
func (d *PCMUDecoder) Conceal(pcm []int16, _ []byte) (bool, error) {
	for len(pcm) >= 2 {
		n := min(len(pcm)/2, cap(d.narr))
		d.narr = d.narr[:n]
		clear(d.narr)
		pcm = pcm[d.up.process(d.narr, pcm):]
	}
	clear(pcm)
	return false, nil
}
