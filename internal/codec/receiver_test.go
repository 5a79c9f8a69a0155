package codec

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// markDecoder is a PCMU-clocked test decoder whose output names the packet:
// every sample of packet k is k (payload[0]); concealment writes -1, or -2
// when the next packet was offered for FEC. It shows exactly what the
// jitter buffer released, in which order.
type markDecoder struct{}

func (markDecoder) Codec() Codec { return CodecPCMU }
func (markDecoder) Duration(p []byte) (int, error) {
	if err := checkPayload(CodecPCMU, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
func (markDecoder) Decode(p []byte, pcm []int16) (int, error) {
	n := 2 * len(p)
	for i := range pcm[:n] {
		pcm[i] = int16(p[0])
	}
	return n, nil
}
func (markDecoder) Conceal(pcm []int16, next []byte) (bool, error) {
	for i := range pcm {
		pcm[i] = -1
		if next != nil && i >= len(pcm)-FrameSamples {
			pcm[i] = -2 // FEC recovers the last frame of the gap
		}
	}
	return next != nil, nil
}

// ev is one arrival: packet id (its 20 ms slot: timestamp id×160), its
// sequence number offset, and arrival time in ms.
type ev struct {
	id  int
	seq int // sequence number = seq0 + seq
	at  int
}

func pkt(id int) []byte {
	p := make([]byte, 160)
	p[0] = byte(id)
	return p
}

// label renders a frame as its packet id, C (concealed) or F (FEC).
func label(f Frame) string {
	switch v := f.PCM[0]; {
	case v == -1:
		return "C"
	case v == -2:
		return "F"
	default:
		for _, s := range f.PCM {
			if s != v {
				return "mixed"
			}
		}
		return fmt.Sprint(v)
	}
}

func TestReceiverJitterBuffer(t *testing.T) {
	inOrder := func(ids ...int) []ev {
		var e []ev
		for _, id := range ids {
			e = append(e, ev{id, id, id * 20})
		}
		return e
	}
	cases := []struct {
		name   string
		seq0   uint16
		ts0    uint32
		events []ev
		until  int // ms: keep popping every 20 ms until then (default: last arrival + 60)
		drain  bool
		conc   time.Duration
		want   string
		stats  ReceiverStats // fields checked: Lost Late Duplicate Reordered FEC Resyncs
	}{
		{name: "in order", events: inOrder(0, 1, 2, 3), want: "0 1 2 3"},
		{name: "reordered within delay", events: []ev{{0, 0, 0}, {2, 2, 40}, {1, 1, 55}, {3, 3, 60}},
			want: "0 1 2 3", stats: ReceiverStats{Reordered: 1}},
		{name: "reordered ahead of the first packet", events: []ev{{1, 1, 0}, {0, 0, 10}, {2, 2, 40}},
			want: "0 1 2", stats: ReceiverStats{Reordered: 1}},
		{name: "duplicate", events: []ev{{0, 0, 0}, {1, 1, 20}, {1, 1, 25}, {0, 0, 30}, {2, 2, 40}},
			want: "0 1 2", stats: ReceiverStats{Duplicate: 2}},
		{name: "loss concealed with FEC from the next packet", events: inOrder(0, 1, 3, 4),
			want: "0 1 F 3 4", stats: ReceiverStats{Lost: 1, FEC: 1}},
		{name: "two lost", events: inOrder(0, 1, 4, 5), until: 160,
			want: "0 1 C F 4 5", stats: ReceiverStats{Lost: 2, FEC: 1}},
		{name: "late after loss declared", events: []ev{{0, 0, 0}, {1, 1, 20}, {3, 3, 60}, {4, 4, 80}, {5, 5, 100}, {6, 6, 120}, {2, 2, 130}},
			want: "0 1 F 3 4 5 6", stats: ReceiverStats{Lost: 1, Late: 1, FEC: 1}},
		{name: "wraparound with reordering", seq0: 65534, ts0: 4294967000,
			events: []ev{{0, 0, 0}, {2, 2, 40}, {1, 1, 45}, {3, 3, 60}, {4, 4, 80}},
			want:   "0 1 2 3 4", stats: ReceiverStats{Reordered: 1}},
		{name: "loss across wraparound", seq0: 65535, events: inOrder(0, 2, 3),
			want: "0 F 2 3", stats: ReceiverStats{Lost: 1, FEC: 1}},
		{name: "stream stops: concealed on time up to MaxConceal", events: inOrder(0, 1), until: 400, conc: 60 * time.Millisecond,
			want: "0 1 C C C"},
		{name: "delayed packet whose time was concealed is late", conc: 60 * time.Millisecond,
			events: []ev{{0, 0, 0}, {1, 1, 20}, {2, 2, 300}, {3, 3, 310}, {4, 4, 320}, {5, 5, 330}, {6, 6, 340}}, until: 400,
			want: "0 1 C C C 5 6", stats: ReceiverStats{Lost: 3, Late: 3}},
		{name: "timestamp gap without loss (DTX) filled, not lost", events: []ev{{0, 0, 0}, {1, 1, 20}, {5, 2, 100}, {6, 3, 120}},
			want: "0 1 C C C 5 6"},
		{name: "gap longer than MaxConceal jumps the clock", events: []ev{{0, 0, 0}, {1, 1, 20}, {100, 2, 2000}, {101, 3, 2020}},
			until: 2080, conc: 60 * time.Millisecond, want: "0 1 C C C 100 101", stats: ReceiverStats{Resyncs: 1}},
		{name: "drain conceals without waiting", events: inOrder(0, 1, 3), until: 60, drain: true,
			want: "0 1 F 3", stats: ReceiverStats{Lost: 1, FEC: 1}},
		{name: "sequence jump beyond the buffer", events: []ev{{0, 0, 0}, {1, 1, 20}, {2, 1001, 40}, {3, 1002, 60}},
			want: "0 1 2 3", stats: ReceiverStats{Lost: 999}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReceiver(ReceiverConfig{Codec: CodecPCMU, Decoder: markDecoder{}, MaxConceal: tc.conc})
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Unix(1000, 0)
			var got []string
			var stamps []time.Duration
			pop := func(ms int) {
				for f, ok := r.Pop(t0.Add(time.Duration(ms) * time.Millisecond)); ok; f, ok = r.Pop(t0.Add(time.Duration(ms) * time.Millisecond)) {
					if len(f.PCM) != FrameSamples {
						t.Fatalf("frame of %d samples", len(f.PCM))
					}
					l := label(f)
					if f.Concealed != (l == "C" || l == "F") {
						t.Errorf("frame %s: Concealed=%v", l, f.Concealed)
					}
					got = append(got, l)
					stamps = append(stamps, f.Timestamp)
				}
			}
			clock := 0
			for _, e := range tc.events {
				for ; clock+20 <= e.at; clock += 20 {
					pop(clock)
				}
				p := Packet{SequenceNumber: tc.seq0 + uint16(e.seq), Timestamp: tc.ts0 + uint32(e.id*160), Payload: pkt(e.id)}
				if err := r.Push(p, t0.Add(time.Duration(e.at)*time.Millisecond)); err != nil {
					t.Fatal(err)
				}
				pop(e.at)
			}
			until := tc.until
			if until == 0 {
				until = tc.events[len(tc.events)-1].at + 60
			}
			for ; clock <= until; clock += 20 {
				pop(clock)
			}
			if tc.drain {
				r.Drain()
				pop(clock)
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("frames %q, want %q", s, tc.want)
			}
			// Frame times follow RTP timestamps: 20 ms apart, except
			// across a resync.
			for i := 1; i < len(stamps); i++ {
				if d := stamps[i] - stamps[i-1]; d != FrameDuration && tc.stats.Resyncs == 0 {
					t.Errorf("frame %d at %v, previous %v", i, stamps[i], stamps[i-1])
				}
			}
			st := r.Stats()
			st2 := ReceiverStats{Lost: st.Lost, Late: st.Late, Duplicate: st.Duplicate, Reordered: st.Reordered, FEC: st.FEC, Resyncs: st.Resyncs}
			if st2 != tc.stats {
				t.Errorf("stats %+v, want %+v", st2, tc.stats)
			}
			if st.Received != uint64(len(tc.events)) || st.Frames != uint64(len(got)) {
				t.Errorf("received %d frames %d, want %d %d", st.Received, st.Frames, len(tc.events), len(got))
			}
		})
	}
}

func TestReceiverRejectsBadPayloads(t *testing.T) {
	big := make([]byte, MaxPayload+1)
	cases := []struct {
		codec   Codec
		payload []byte
		reason  PacketReason
	}{
		{CodecOpus, nil, ReasonEmpty},
		{CodecOpus, big, ReasonTooLarge},
		{CodecOpus, []byte{0x03}, ReasonMalformed},                // code 3 without its frame count
		{CodecOpus, []byte{0x1b, 0x03, 1, 2, 3}, ReasonMalformed}, // 3 × 60 ms: over 120 ms
		{CodecOpus, []byte{0x02, 200, 1}, ReasonMalformed},        // code 2: first frame longer than the packet
		{CodecPCMU, nil, ReasonEmpty},
		{CodecPCMU, big, ReasonTooLarge},
		{CodecPCMU, make([]byte, 1000), ReasonDuration}, // 125 ms
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%v/%v/%d", tc.codec, tc.reason, len(tc.payload)), func(t *testing.T) {
			r, err := NewReceiver(ReceiverConfig{Codec: tc.codec})
			if err != nil {
				t.Fatal(err)
			}
			err = r.Push(Packet{Payload: tc.payload}, time.Now())
			var pe *PacketError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T), want *PacketError", err, err)
			}
			if pe.Reason != tc.reason {
				t.Errorf("reason %v, want %v", pe.Reason, tc.reason)
			}
			if st := r.Stats(); st.Invalid != 1 || st.Received != 1 {
				t.Errorf("stats %+v", st)
			}
			if _, ok := r.Pop(time.Now().Add(time.Second)); ok {
				t.Error("a refused first packet produced a frame")
			}
		})
	}
}

func TestReceiverConfigErrors(t *testing.T) {
	for _, cfg := range []ReceiverConfig{
		{},
		{Codec: 7},
		{Codec: CodecOpus, JitterDelay: -time.Millisecond},
		{Codec: CodecOpus, JitterDelay: 2 * time.Second},
		{Codec: CodecOpus, MaxConceal: time.Millisecond},
		{Codec: CodecOpus, MaxConceal: time.Minute},
		{Codec: CodecOpus, Decoder: NewPCMUDecoder()},
	} {
		var ce *ConfigError
		if _, err := NewReceiver(cfg); !errors.As(err, &ce) {
			t.Errorf("%+v: error %v, want *ConfigError", cfg, err)
		}
	}
}

// TestReceiverOpusLossKeepsClock streams a real Opus fixture with 5 % loss,
// reordering, duplicates and jitter below the delay: N packets in must give
// exactly N×20 ms of frames, stamped 20 ms apart from 0, and without loss
// the output must equal a plain libopus decode.
func TestReceiverOpusLossKeepsClock(t *testing.T) {
	pkts := loadFixture(t, "speech-clean.opus.pkts")
	for _, loss := range []float64{0, 0.05} {
		t.Run(fmt.Sprintf("loss=%.0f%%", loss*100), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(loss*100)))
			r, err := NewReceiver(ReceiverConfig{Codec: CodecOpus})
			if err != nil {
				t.Fatal(err)
			}
			type arrival struct {
				k  int
				at time.Duration
			}
			var arr []arrival
			dropped := 0
			for k := range pkts {
				if k > 0 && k < len(pkts)-1 && rng.Float64() < loss {
					dropped++
					continue
				}
				// Jitter up to 35 ms: reorders neighbours, stays under
				// the 60 ms delay.
				at := time.Duration(k)*FrameDuration + time.Duration(rng.IntN(35))*time.Millisecond
				arr = append(arr, arrival{k, at})
				if rng.Float64() < 0.02 {
					arr = append(arr, arrival{k, at + 5*time.Millisecond})
				}
			}
			sortArrivals := func(a []arrival) {
				for i := 1; i < len(a); i++ {
					for j := i; j > 0 && a[j].at < a[j-1].at; j-- {
						a[j], a[j-1] = a[j-1], a[j]
					}
				}
			}
			sortArrivals(arr)
			t0 := time.Unix(5000, 0)
			var out []int16
			var frames []Frame
			pop := func(now time.Time) {
				for f, ok := r.Pop(now); ok; f, ok = r.Pop(now) {
					frames = append(frames, Frame{Timestamp: f.Timestamp, Concealed: f.Concealed})
					out = append(out, f.PCM...)
				}
			}
			tick := time.Duration(0)
			for _, a := range arr {
				for ; tick <= a.at; tick += 20 * time.Millisecond {
					pop(t0.Add(tick))
				}
				p := Packet{SequenceNumber: uint16(40000 + a.k), Timestamp: uint32(123456789 + a.k*OpusPacketTicks), Payload: pkts[a.k]}
				if err := r.Push(p, t0.Add(a.at)); err != nil {
					t.Fatal(err)
				}
				pop(t0.Add(a.at))
			}
			r.Drain()
			pop(t0.Add(tick))
			if len(frames) != len(pkts) {
				t.Fatalf("%d frames for %d packets", len(frames), len(pkts))
			}
			concealed := 0
			for i, f := range frames {
				if f.Timestamp != time.Duration(i)*FrameDuration {
					t.Fatalf("frame %d at %v", i, f.Timestamp)
				}
				if f.Concealed {
					concealed++
				}
			}
			st := r.Stats()
			t.Logf("dropped %d, stats %+v", dropped, st)
			if st.Lost != uint64(dropped) || concealed != dropped || st.Late != 0 {
				t.Errorf("lost %d concealed %d late %d, want %d %d 0", st.Lost, concealed, st.Late, dropped, dropped)
			}
			if loss > 0 && (st.Reordered == 0 || st.FEC == 0) {
				t.Errorf("test did not exercise reordering and FEC: %+v", st)
			}
			if st.Duplicate == 0 {
				t.Error("test did not exercise duplicates")
			}
			if loss == 0 {
				d, _ := NewOpusDecoder()
				ref := decodeAll(t, libopusCandidate{d}, pkts)
				if s := snr(ref, out); !isInf(s) {
					t.Errorf("receiver output differs from a plain decode: SNR %.1f dB", s)
				}
			}
		})
	}
}

func isInf(f float64) bool { return f > 1e300 }

// Packets of 10, 30 and 40 ms are reframed into 20 ms frames stamped from
// their RTP timestamps; Drain pads the last partial frame.
func TestReceiverReframesOtherPacketSizes(t *testing.T) {
	for _, ms := range []int{10, 30, 40} {
		t.Run(fmt.Sprintf("%dms", ms), func(t *testing.T) {
			r, err := NewReceiver(ReceiverConfig{Codec: CodecPCMU})
			if err != nil {
				t.Fatal(err)
			}
			const packets = 7
			src := tone(8000, 8*ms*packets)
			t0 := time.Unix(0, 0)
			var stamps []time.Duration
			var out []int16
			for k := range packets {
				pcm := src[k*8*ms : (k+1)*8*ms]
				now := t0.Add(time.Duration(k*ms) * time.Millisecond)
				if err := r.Push(Packet{SequenceNumber: uint16(k), Timestamp: uint32(k * 8 * ms), Payload: EncodePCMU(nil, pcm)}, now); err != nil {
					t.Fatal(err)
				}
				for f, ok := r.Pop(now.Add(60 * time.Millisecond)); ok; f, ok = r.Pop(now.Add(60 * time.Millisecond)) {
					stamps = append(stamps, f.Timestamp)
					out = append(out, f.PCM...)
				}
			}
			r.Drain()
			for f, ok := r.Pop(t0); ok; f, ok = r.Pop(t0) {
				stamps = append(stamps, f.Timestamp)
				out = append(out, f.PCM...)
			}
			want := (packets*ms + 19) / 20
			if len(stamps) != want {
				t.Fatalf("%d frames, want %d", len(stamps), want)
			}
			for i, s := range stamps {
				if s != time.Duration(i)*FrameDuration {
					t.Errorf("frame %d at %v", i, s)
				}
			}
			// The audio is continuous across packet boundaries.
			ref := tone(16000, 16*ms*packets)
			if s, lag := bestLagSNR(ref, out, 40, 100); s < 30 || lag != 15 {
				t.Errorf("SNR %.1f dB at lag %d", s, lag)
			}
		})
	}
}
