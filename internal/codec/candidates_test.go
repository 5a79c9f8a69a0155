package codec

import (
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
