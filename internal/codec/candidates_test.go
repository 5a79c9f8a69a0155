package codec

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	pionopus "github.com/pion/opus"
	"github.com/thesyncim/gopus"
)

// The Opus decoders measured against each other (BENCHMARKS.md, "Codec"):
// libopus through this package's cgo binding, and two pure-Go decoders.
// Only libopus is used outside tests.

type frameDecoder interface {
	decode(pkt []byte, pcm []int16) (int, error)
}

type libopusCandidate struct{ d *OpusDecoder }

func (c libopusCandidate) decode(p []byte, pcm []int16) (int, error) { return c.d.Decode(p, pcm) }

type pionCandidate struct{ d pionopus.Decoder }

func (c *pionCandidate) decode(p []byte, pcm []int16) (int, error) { return c.d.DecodeToInt16(p, pcm) }

type gopusCandidate struct{ d *gopus.Decoder }

func (c gopusCandidate) decode(p []byte, pcm []int16) (int, error) { return c.d.DecodeInt16(p, pcm) }

var candidates = []struct {
	name string
	make func(t testing.TB) frameDecoder
	// minSNR is what the test demands of agreement with libopus.
	minSNR float64
}{
	{"libopus", func(t testing.TB) frameDecoder {
		d, err := NewOpusDecoder()
		if err != nil {
			t.Fatal(err)
		}
		return libopusCandidate{d}
	}, 200},
	{"pion", func(t testing.TB) frameDecoder {
		d, err := pionopus.NewDecoderWithOutput(SampleRate, 1)
		if err != nil {
			t.Fatal(err)
		}
		return &pionCandidate{d}
	}, 20},
	{"gopus", func(t testing.TB) frameDecoder {
		d, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(SampleRate, 1))
		if err != nil {
			t.Fatal(err)
		}
		return gopusCandidate{d}
	}, 20},
}

var fixtures = []string{"speech-clean.opus.pkts", "speech-noisy.opus.pkts"}

func loadFixture(t testing.TB, name string) [][]byte {
	t.Helper()
	pkts, err := ReadPacketFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) < 100 {
		t.Fatalf("%s: only %d packets", name, len(pkts))
	}
	return pkts
}

func decodeAll(t testing.TB, d frameDecoder, pkts [][]byte) []int16 {
	t.Helper()
	out := make([]int16, 0, len(pkts)*FrameSamples)
	buf := make([]int16, maxPacketSamples)
	for i, p := range pkts {
		n, err := d.decode(p, buf)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		out = append(out, buf[:n]...)
	}
	return out
}

// snr is the agreement of x with ref in dB (+Inf when identical).
func snr(ref, x []int16) float64 {
	var sig, noise float64
	for i := range ref {
		r := float64(ref[i])
		d := r - float64(x[i])
		sig += r * r
		noise += d * d
	}
	if noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(sig/noise)
}

func TestDecoderAgreementWithLibopus(t *testing.T) {
	for _, fx := range fixtures {
		pkts := loadFixture(t, fx)
		ref := decodeAll(t, candidates[0].make(t), pkts)
		if len(ref) != len(pkts)*FrameSamples {
			t.Fatalf("%s: libopus gave %d samples for %d packets", fx, len(ref), len(pkts))
		}
		for _, c := range candidates {
			t.Run(fx+"/"+c.name, func(t *testing.T) {
				got := decodeAll(t, c.make(t), pkts)
				if len(got) != len(ref) {
					t.Fatalf("%d samples, libopus %d", len(got), len(ref))
				}
				s := snr(ref, got)
				t.Logf("SNR against libopus %s: %.1f dB", LibopusVersion(), s)
				if s < c.minSNR {
					t.Errorf("SNR %.1f dB < %.0f dB", s, c.minSNR)
				}
			})
		}
	}
}

func BenchmarkDecodeFrame(b *testing.B) {
	for _, fx := range fixtures {
		pkts := loadFixture(b, fx)
		for _, c := range candidates {
			b.Run(fx+"/"+c.name, func(b *testing.B) {
				d := c.make(b)
				buf := make([]int16, maxPacketSamples)
				b.ReportAllocs()
				i := 0
				cpu := startCPU()
				for b.Loop() {
					cpu.ops++
					if _, err := d.decode(pkts[i], buf); err != nil {
						b.Fatal(err)
					}
					if i++; i == len(pkts) {
						i = 0
					}
				}
				cpu.report(b)
			})
		}
	}
}

// The encoder side of the same comparison: gopus's encoder against
// libopus's on the same speech (24 kHz, what the realtime model sends).
func newGopusEncoder(t testing.TB, rate, complexity int) *gopus.Encoder {
	e, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: rate, Channels: 1, Application: gopus.ApplicationVoIP})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{e.SetBitrate(32000), e.SetComplexity(complexity), e.SetPacketLoss(10), e.SetSignal(gopus.SignalVoice)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	e.SetFEC(true)
	return e
}

func TestGopusEncoderAgainstLibopus(t *testing.T) {
	const rate = 24000
	src := speechAt(t, rate)
	lib, err := NewEncoder(EncoderConfig{SampleRate: rate})
	if err != nil {
		t.Fatal(err)
	}
	gp := newGopusEncoder(t, rate, lib.Config().Complexity)
	fs := lib.FrameSamples()
	a, b := make([]byte, MaxPacketBytes), make([]byte, MaxPacketBytes)
	dl, dg := mustOpus(t), mustOpus(t)
	pa, pb := make([]int16, maxPacketSamples), make([]int16, maxPacketSamples)
	var outL, outG []int16
	same, bytesL, bytesG := 0, 0, 0
	for i := 0; i+fs <= len(src); i += fs {
		na, err := lib.Encode(src[i:i+fs], a)
		if err != nil {
			t.Fatal(err)
		}
		nb, err := gp.EncodeInt16(src[i:i+fs], b)
		if err != nil {
			t.Fatal(err)
		}
		if string(a[:na]) == string(b[:nb]) {
			same++
		}
		bytesL, bytesG = bytesL+na, bytesG+nb
		x, err := dl.Decode(a[:na], pa)
		if err != nil {
			t.Fatal(err)
		}
		y, err := dg.Decode(b[:nb], pb)
		if err != nil {
			t.Fatalf("libopus cannot decode gopus packet: %v", err)
		}
		outL, outG = append(outL, pa[:x]...), append(outG, pb[:y]...)
	}
	sl, _ := bestLagSNR(speechAt(t, SampleRate), outL, 400, 1600)
	sg, _ := bestLagSNR(speechAt(t, SampleRate), outG, 400, 1600)
	t.Logf("identical packets %d of %d; bytes libopus %d gopus %d; SNR against the source: libopus %.1f dB, gopus %.1f dB",
		same, len(src)/fs, bytesL, bytesG, sl, sg)
	if sg < sl-3 {
		t.Errorf("gopus encoder %.1f dB, libopus %.1f dB", sg, sl)
	}
}

func BenchmarkEncodeFrameGopus(b *testing.B) {
	for _, cx := range []int{9, 5} {
		b.Run(fmt.Sprintf("24000Hz/complexity%d", cx), func(b *testing.B) {
			src := speechAt(b, 24000)
			e := newGopusEncoder(b, 24000, cx)
			out := make([]byte, MaxPacketBytes)
			b.ReportAllocs()
			i := 0
			cpu := startCPU()
			for b.Loop() {
				cpu.ops++
				if _, err := e.EncodeInt16(src[i:i+480], out); err != nil {
					b.Fatal(err)
				}
				if i += 480; i+480 > len(src) {
					i = 0
				}
			}
			cpu.report(b)
		})
	}
}

// TestGopusConcealmentAgainstLibopus loses every 10th packet of each
// fixture and conceals it with PLC (odd losses) or the next packet's FEC
// (even losses) in both libopus and gopus, then compares the whole output.
func TestGopusConcealmentAgainstLibopus(t *testing.T) {
	for _, fx := range fixtures {
		pkts := loadFixture(t, fx)
		lib := mustOpus(t)
		gp, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(SampleRate, 1))
		if err != nil {
			t.Fatal(err)
		}
		var outL, outG []int16
		a := make([]int16, maxPacketSamples)
		f := make([]float32, maxPacketSamples)
		b := make([]int16, maxPacketSamples)
		for k, p := range pkts {
			var n, m int
			switch {
			case k%10 == 5 && k%20 == 5: // PLC
				if _, err := lib.Conceal(a[:FrameSamples], nil); err != nil {
					t.Fatal(err)
				}
				n = FrameSamples
				if m, err = gp.DecodeInt16(nil, b[:FrameSamples]); err != nil {
					t.Fatal(err)
				}
			case k%10 == 5: // FEC from the next packet
				if _, err := lib.Conceal(a[:FrameSamples], pkts[k+1]); err != nil {
					t.Fatal(err)
				}
				n = FrameSamples
				if m, err = gp.DecodeWithFEC(pkts[k+1], f[:FrameSamples], true); err != nil {
					t.Fatal(err)
				}
				for i := range m {
					b[i] = clip16(f[i] * 32768)
				}
			default:
				if n, err = lib.Decode(p, a); err != nil {
					t.Fatal(err)
				}
				if m, err = gp.DecodeInt16(p, b); err != nil {
					t.Fatal(err)
				}
			}
			if n != m {
				t.Fatalf("%s packet %d: %d samples, gopus %d", fx, k, n, m)
			}
			outL, outG = append(outL, a[:n]...), append(outG, b[:m]...)
		}
		s := snr(outL, outG)
		t.Logf("%s with 10%% loss (PLC and FEC): gopus against libopus %.1f dB", fx, s)
		if s < 20 {
			t.Errorf("%s: %.1f dB", fx, s)
		}
	}
}
