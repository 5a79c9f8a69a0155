package codec

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkReceiverPacket is Push + Pop of one 20 ms Opus packet in order
// (jitter buffer, libopus decode at 16 kHz, reframing).
func BenchmarkReceiverPacket(b *testing.B) {
	for _, fx := range fixtures {
		pkts := loadFixture(b, fx)
		b.Run(fx, func(b *testing.B) {
			r, err := NewReceiver(ReceiverConfig{Codec: CodecOpus, JitterDelay: time.Nanosecond})
			if err != nil {
				b.Fatal(err)
			}
			now := time.Unix(0, 0)
			b.ReportAllocs()
			k := 0
			cpu := startCPU()
			for b.Loop() {
				cpu.ops++
				p := Packet{SequenceNumber: uint16(k), Timestamp: uint32(k * OpusPacketTicks), Payload: pkts[k%len(pkts)]}
				now = now.Add(FrameDuration)
				if err := r.Push(p, now); err != nil {
					b.Fatal(err)
				}
				for _, ok := r.Pop(now); ok; _, ok = r.Pop(now) {
				}
				k++
			}
			cpu.report(b)
			if st := r.Stats(); st.Lost != 0 || st.Frames+1 < uint64(k) {
				b.Fatalf("stats %+v after %d packets", st, k)
			}
		})
	}
}

// BenchmarkReceiverPacketLoss is the same with every 20th packet lost
// (PLC + FEC) and neighbours swapped every 10th.
func BenchmarkReceiverPacketLoss(b *testing.B) {
	pkts := loadFixture(b, fixtures[0])
	r, err := NewReceiver(ReceiverConfig{Codec: CodecOpus, JitterDelay: 30 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(0, 0)
	b.ReportAllocs()
	k := 0
	cpu := startCPU()
	for b.Loop() {
		cpu.ops++
		k++
		if k%20 == 0 {
			continue
		}
		s := k
		if k%10 == 3 {
			s = k + 1
		} else if k%10 == 4 {
			s = k - 1
		}
		p := Packet{SequenceNumber: uint16(s), Timestamp: uint32(s * OpusPacketTicks), Payload: pkts[s%len(pkts)]}
		now = now.Add(FrameDuration)
		if err := r.Push(p, now); err != nil {
			b.Fatal(err)
		}
		for _, ok := r.Pop(now); ok; _, ok = r.Pop(now) {
		}
	}
	cpu.report(b)
}

func BenchmarkPCMUDecodeFrame(b *testing.B) {
	d := NewPCMUDecoder()
	payload := EncodePCMU(nil, tone(8000, 160))
	pcm := make([]int16, 2*MaxPayload)
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		cpu.ops++
		if _, err := d.Decode(payload, pcm); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkEncodeFrame encodes 20 ms of speech-like PCM (the fixture
// decoded back, resampled by libopus to the input rate).
func BenchmarkEncodeFrame(b *testing.B) {
	for _, rate := range []int{16000, 24000} {
		for _, cx := range []int{9, 5} {
			b.Run(fmt.Sprintf("%dHz/complexity%d", rate, cx), func(b *testing.B) {
				src := speechAt(b, rate)
				enc, err := NewEncoder(EncoderConfig{SampleRate: rate, Complexity: cx})
				if err != nil {
					b.Fatal(err)
				}
				out := make([]byte, MaxPacketBytes)
				fs := enc.FrameSamples()
				b.ReportAllocs()
				i := 0
				cpu := startCPU()
				for b.Loop() {
					cpu.ops++
					if _, err := enc.Encode(src[i:i+fs], out); err != nil {
						b.Fatal(err)
					}
					if i += fs; i+fs > len(src) {
						i = 0
					}
				}
				cpu.report(b)
			})
		}
	}
}

// speechAt decodes the clean fixture at rate.
func speechAt(t testing.TB, rate int) []int16 {
	pkts := loadFixture(t, fixtures[0])
	d, err := newOpusDec(rate)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]int16, rate/50*6)
	var out []int16
	for _, p := range pkts {
		n, err := d.decode(p, buf, false)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, buf[:n]...)
	}
	return out
}

func BenchmarkFramer(b *testing.B) {
	f, _ := NewFramer(24000)
	chunk := make([]byte, 2400*2) // 100 ms deltas, as a realtime API sends
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		cpu.ops++
		if err := f.WriteBytes(chunk); err != nil {
			b.Fatal(err)
		}
		for _, ok := f.Next(); ok; _, ok = f.Next() {
		}
	}
	cpu.report(b)
}
