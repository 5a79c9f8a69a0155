package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

// tone is a sum of three sines at rate, amplitude ~0.5 full scale.
func tone(rate, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		t := float64(i) / float64(rate)
		v := 0.25*math.Sin(2*math.Pi*310*t) + 0.15*math.Sin(2*math.Pi*720*t+1) + 0.1*math.Sin(2*math.Pi*1450*t+2)
		out[i] = int16(v * 32767)
	}
	return out
}

// bestLagSNR aligns got to ref within maxLag samples (codec and filter
// delay) and returns the best SNR, skipping warm-up at both ends.
func bestLagSNR(ref, got []int16, maxLag, skip int) (float64, int) {
	best, bestLag := math.Inf(-1), 0
	for lag := 0; lag <= maxLag; lag++ {
		n := min(len(ref), len(got)-lag) - skip
		if n <= skip {
			break
		}
		if s := snr(ref[skip:n], got[skip+lag:n+lag]); s > best {
			best, bestLag = s, lag
		}
	}
	return best, bestLag
}

func TestMulawKnownValuesAndRoundTrip(t *testing.T) {
	known := []struct {
		b byte
		v int16
	}{{0x00, -32124}, {0x7f, 0}, {0x80, 32124}, {0xff, 0}, {0x0f, -16764}, {0xf0, 120}}
	for _, k := range known {
		if got := MulawDecode(k.b); got != k.v {
			t.Errorf("MulawDecode(%#x) = %d, want %d", k.b, got, k.v)
		}
	}
	// Every code decodes to a value that encodes back to the same code
	// (except the duplicate zero, 0x7f).
	for b := range 256 {
		if b == 0x7f {
			continue
		}
		if got := MulawEncode(MulawDecode(byte(b))); got != byte(b) {
			t.Errorf("code %#x -> %d -> %#x", b, MulawDecode(byte(b)), got)
		}
	}
	// Quantisation error stays within half a step of its segment.
	for s := -32768; s <= 32767; s += 7 {
		d := int(MulawDecode(MulawEncode(int16(s))))
		if e := abs(d - s); e > abs(s)/16+8 && abs(s) < 32635 {
			t.Fatalf("sample %d -> %d: error %d", s, d, e)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestPCMURoundTrip(t *testing.T) {
	// 8 kHz tone -> mu-law -> PCMUDecoder (16 kHz) against the same tone
	// computed at 16 kHz: mu-law (~38 dB) plus interpolation error.
	src := tone(8000, 8000)
	ref := tone(16000, 16000)
	d := NewPCMUDecoder()
	var got []int16
	buf := make([]int16, 2*MaxPayload)
	for i := 0; i < len(src); i += 160 {
		n, err := d.Decode(EncodePCMU(nil, src[i:i+160]), buf)
		if err != nil {
			t.Fatal(err)
		}
		if n != 320 {
			t.Fatalf("%d samples from 160 bytes", n)
		}
		got = append(got, buf[:n]...)
	}
	s, lag := bestLagSNR(ref, got, 40, 200)
	t.Logf("PCMU round trip SNR %.1f dB at lag %d (filter delay %d)", s, lag, d.up.delay())
	if s < 30 || lag != d.up.delay() {
		t.Errorf("SNR %.1f dB at lag %d, want >= 30 dB at %d", s, lag, d.up.delay())
	}
}

func TestEncoderDecoderRoundTrip(t *testing.T) {
	for _, rate := range []int{16000, 24000} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			enc, err := NewEncoder(EncoderConfig{SampleRate: rate})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := NewOpusDecoder()
			if err != nil {
				t.Fatal(err)
			}
			src := tone(rate, rate*2)
			ref := tone(SampleRate, SampleRate*2)
			out := make([]byte, MaxPacketBytes)
			pcm := make([]int16, maxPacketSamples)
			var got []int16
			bytesOut := 0
			for i := 0; i+enc.FrameSamples() <= len(src); i += enc.FrameSamples() {
				n, err := enc.Encode(src[i:i+enc.FrameSamples()], out)
				if err != nil {
					t.Fatal(err)
				}
				bytesOut += n
				if d, err := dec.Duration(out[:n]); err != nil || d != OpusPacketTicks {
					t.Fatalf("packet duration %d ticks (%v), want %d", d, err, OpusPacketTicks)
				}
				m, err := dec.Decode(out[:n], pcm)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, pcm[:m]...)
			}
			s, lag := bestLagSNR(ref, got, 400, 1600)
			kbps := float64(bytesOut*8) / 2 / 1000
			t.Logf("%d Hz in: SNR %.1f dB at lag %d samples, %.1f kbit/s", rate, s, lag, kbps)
			// SILK at ~30 kbit/s keeps the spectrum, not the waveform:
			// about 10 dB; a broken path (wrong rate, garbage) is near 0.
			if s < 7 {
				t.Errorf("SNR %.1f dB < 7 dB", s)
			}
			if kbps < 20 || kbps > 45 {
				t.Errorf("%.1f kbit/s, configured 32", kbps)
			}
		})
	}
}

func TestEncoderRejects(t *testing.T) {
	for _, cfg := range []EncoderConfig{
		{SampleRate: 44100}, {Bitrate: 1000}, {Bitrate: 1 << 20}, {Complexity: 11}, {PacketLossPercent: 101},
	} {
		var ce *ConfigError
		if _, err := NewEncoder(cfg); !errors.As(err, &ce) {
			t.Errorf("%+v: %v, want *ConfigError", cfg, err)
		}
	}
	enc, err := NewEncoder(EncoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if c := enc.Config(); c.SampleRate != 24000 || c.Bitrate != 32000 || c.Complexity != 5 || c.PacketLossPercent != 10 {
		t.Errorf("defaults %+v", c)
	}
	var ce *ConfigError
	if _, err := enc.Encode(make([]int16, 100), make([]byte, MaxPacketBytes)); !errors.As(err, &ce) {
		t.Errorf("short frame: %v, want *ConfigError", err)
	}
}

func TestOpusConcealUsesFEC(t *testing.T) {
	// Losing a packet and recovering it from the next packet's FEC must
	// sound closer to the real packet than plain PLC.
	pkts := loadFixture(t, "speech-clean.opus.pkts")
	ref := decodeAll(t, libopusCandidate{mustOpus(t)}, pkts)
	var fecErr, plcErr float64
	used := 0
	for k := 20; k < len(pkts)-1; k += 10 {
		want := ref[k*FrameSamples : (k+1)*FrameSamples]
		for _, useFEC := range []bool{true, false} {
			d := mustOpus(t)
			buf := make([]int16, maxPacketSamples)
			for _, p := range pkts[:k] {
				if _, err := d.Decode(p, buf); err != nil {
					t.Fatal(err)
				}
			}
			var next []byte
			if useFEC {
				next = pkts[k+1]
			}
			pcm := make([]int16, FrameSamples)
			fec, err := d.Conceal(pcm, next)
			if err != nil {
				t.Fatal(err)
			}
			var e float64
			for i := range pcm {
				x := float64(pcm[i] - want[i])
				e += x * x
			}
			if useFEC {
				fecErr += e
				if fec {
					used++
				}
			} else {
				plcErr += e
			}
		}
	}
	t.Logf("error energy: FEC %.3g, PLC %.3g, FEC used %d times", fecErr, plcErr, used)
	if used == 0 || fecErr >= plcErr {
		t.Errorf("FEC error %.3g not below PLC error %.3g", fecErr, plcErr)
	}
}

func mustOpus(t testing.TB) *OpusDecoder {
	d, err := NewOpusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFramer(t *testing.T) {
	cases := []struct {
		rate   int
		writes []int
		frames int
		rest   int
	}{
		{24000, []int{480}, 1, 0},
		{24000, []int{100, 200, 179}, 0, 479},
		{24000, []int{100, 200, 181}, 1, 1},
		{16000, []int{1000, 1000}, 6, 80},
		{48000, []int{960 * 3, 5}, 3, 5},
	}
	for _, tc := range cases {
		f, err := NewFramer(tc.rate)
		if err != nil {
			t.Fatal(err)
		}
		next := int16(0)
		frames := 0
		want := int16(0)
		for _, w := range tc.writes {
			chunk := make([]int16, w)
			for i := range chunk {
				chunk[i] = next
				next++
			}
			if err := f.Write(chunk); err != nil {
				t.Fatal(err)
			}
			for fr, ok := f.Next(); ok; fr, ok = f.Next() {
				if len(fr) != tc.rate/50 {
					t.Fatalf("frame of %d", len(fr))
				}
				for _, s := range fr {
					if s != want {
						t.Fatalf("%+v: sample %d, want %d", tc, s, want)
					}
					want++
				}
				frames++
			}
		}
		if frames != tc.frames || f.Buffered() != tc.rest {
			t.Errorf("%+v: %d frames, %d left", tc, frames, f.Buffered())
		}
		if fr, ok := f.Flush(); ok != (tc.rest > 0) || (ok && (len(fr) != tc.rate/50 || fr[len(fr)-1] != 0 && tc.rest < len(fr))) {
			t.Errorf("%+v: flush %v %d", tc, ok, len(fr))
		}
	}
	if _, err := NewFramer(44110); err == nil {
		t.Error("44.11 kHz accepted")
	}
}

func TestFramerBytesAndBound(t *testing.T) {
	f, _ := NewFramer(16000)
	src := tone(16000, 700)
	le := make([]byte, 2*len(src))
	for i, s := range src {
		binary.LittleEndian.PutUint16(le[2*i:], uint16(s))
	}
	// Odd-sized pieces: the split sample must be rejoined.
	for i := 0; i < len(le); i += 77 {
		if err := f.WriteBytes(le[i:min(i+77, len(le))]); err != nil {
			t.Fatal(err)
		}
	}
	var got []int16
	for fr, ok := f.Next(); ok; fr, ok = f.Next() {
		got = append(got, fr...)
	}
	if len(got) != 640 || !equal16(got, src[:640]) || f.Buffered() != 60 {
		t.Fatalf("got %d samples, %d buffered", len(got), f.Buffered())
	}
	f.Reset()
	if err := f.Write(make([]int16, 16000*MaxFramerBuffer)); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(make([]int16, 1)); !errors.Is(err, ErrFramerFull) {
		t.Errorf("over the bound: %v", err)
	}
}

func equal16(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPacketFile(t *testing.T) {
	pkts := [][]byte{{1}, bytes.Repeat([]byte{7}, MaxPayload), {2, 3}}
	var b bytes.Buffer
	if err := WritePackets(&b, pkts); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPackets(bytes.NewReader(b.Bytes()))
	if err != nil || len(got) != 3 || !bytes.Equal(got[1], pkts[1]) || !bytes.Equal(got[2], pkts[2]) {
		t.Fatalf("round trip: %v %d", err, len(got))
	}
	bad := map[string][]byte{
		"magic":     []byte("NOTMAGIC\x00\x01\x01"),
		"zero":      append([]byte(packetFileMagic), 0, 0),
		"too long":  append([]byte(packetFileMagic), 0x10, 0),
		"truncated": append([]byte(packetFileMagic), 0, 5, 1, 2),
		"half len":  append([]byte(packetFileMagic), 0),
	}
	for name, in := range bad {
		if _, err := ReadPackets(bytes.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := WritePackets(&b, [][]byte{{}}); err == nil {
		t.Error("empty packet written")
	}
}

func wavBytes(pcm []int16, rate int) []byte {
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + 2*len(pcm) + 12))
	b.WriteString("WAVE")
	b.WriteString("LIST") // a chunk to skip
	w(uint32(4))
	b.WriteString("INFO")
	b.WriteString("fmt ")
	w(uint32(16))
	w(uint16(1))
	w(uint16(1))
	w(uint32(rate))
	w(uint32(rate * 2))
	w(uint16(2))
	w(uint16(16))
	b.WriteString("data")
	w(uint32(2 * len(pcm)))
	w(pcm)
	return b.Bytes()
}

func TestEncodeWAV(t *testing.T) {
	src := tone(16000, 16000+100) // 1 s + 6.25 ms: the last packet is padded
	pkts, err := EncodeWAV(bytes.NewReader(wavBytes(src, 16000)), EncoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != 51 {
		t.Fatalf("%d packets, want 51", len(pkts))
	}
	d := mustOpus(t)
	got := decodeAll(t, libopusCandidate{d}, pkts)
	s, lag := bestLagSNR(src, got, 400, 1600)
	t.Logf("WAV -> 48 kHz Opus -> 16 kHz: SNR %.1f dB at lag %d", s, lag)
	if s < 7 {
		t.Errorf("SNR %.1f dB", s)
	}
	for name, in := range map[string][]byte{
		"not riff": []byte("RIFX0000WAVE"),
		"stereo":   func() []byte { b := wavBytes(src[:10], 16000); b[34] = 2; return b }(),
		"no data":  wavBytes(nil, 16000)[:44],
		"8 bit":    func() []byte { b := wavBytes(src[:10], 16000); b[46] = 8; return b }(),
	} {
		if _, _, err := ReadWAV(bytes.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := EncodePCM(src, 44100, EncoderConfig{}); err == nil {
		t.Error("44.1 kHz accepted")
	}
}

// FuzzReceiver drives a Receiver with arbitrary pushes and pops: it must
// never panic, frames must be whole and their timestamps never go back.
func FuzzReceiver(f *testing.F) {
	pkts, err := ReadPacketFile("testdata/speech-clean.opus.pkts")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range pkts[:3] {
		f.Add(append([]byte{0, 0, 0, 0, 0, 0, byte(len(p))}, p...))
	}
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range []Codec{CodecOpus, CodecPCMU} {
			r, err := NewReceiver(ReceiverConfig{Codec: c, JitterDelay: 40 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Unix(0, 0)
			last := time.Duration(-1)
			pop := func() {
				for fr, ok := r.Pop(now); ok; fr, ok = r.Pop(now) {
					if len(fr.PCM) != FrameSamples || fr.Timestamp <= last {
						t.Fatalf("frame of %d samples at %v after %v", len(fr.PCM), fr.Timestamp, last)
					}
					last = fr.Timestamp
				}
			}
			// Records: seq delta (1), ts delta (2), dt ms (1), flags (1),
			// length (1), payload.
			d := data
			for len(d) >= 7 {
				seq := uint16(int8(d[0]))
				ts := uint32(int16(binary.BigEndian.Uint16(d[1:3]))) * 8
				now = now.Add(time.Duration(d[3]) * time.Millisecond)
				n := min(int(d[6]), len(d)-7)
				p := Packet{SequenceNumber: seq, Timestamp: ts, Marker: d[4]&1 == 1, Payload: d[7 : 7+n]}
				d = d[7+n:]
				_ = r.Push(p, now)
				pop()
			}
			now = now.Add(time.Second)
			pop()
			r.Drain()
			pop()
		}
	})
}
