package codec_test

import (
	"fmt"
	"time"

	"github.com/inferflow/inferflow/internal/codec"
)

// A session's receive loop: push each RTP packet as it arrives, pop frames
// after every push and on a 20 ms tick, and hand them to the gate.
func ExampleReceiver() {
	pkts, err := codec.ReadPacketFile("testdata/speech-clean.opus.pkts")
	if err != nil {
		panic(err)
	}
	r, err := codec.NewReceiver(codec.ReceiverConfig{Codec: codec.CodecOpus})
	if err != nil {
		panic(err)
	}
	start := time.Unix(0, 0)
	frames, concealed := 0, 0
	var last time.Duration
	for k, payload := range pkts {
		now := start.Add(time.Duration(k) * codec.FrameDuration)
		if k == 100 {
			continue // lost on the way
		}
		p := codec.Packet{SequenceNumber: uint16(1000 + k), Timestamp: uint32(k * codec.OpusPacketTicks), Payload: payload}
		if err := r.Push(p, now); err != nil {
			fmt.Println("bad packet:", err)
			continue
		}
		for f, ok := r.Pop(now); ok; f, ok = r.Pop(now) {
			// gate.Frame{SampleRate: codec.SampleRate, Duration: codec.FrameDuration,
			//            Int16: f.PCM, Timestamp: f.Timestamp, ...}
			frames++
			last = f.Timestamp
			if f.Concealed {
				concealed++
			}
		}
	}
	r.Drain()
	for f, ok := r.Pop(start); ok; f, ok = r.Pop(start) {
		frames++
		last = f.Timestamp
	}
	st := r.Stats()
	fmt.Printf("%d packets -> %d frames, last at %v; lost %d, concealed %d, FEC %d\n",
		len(pkts), frames, last, st.Lost, concealed, st.FEC)
	// Output: 350 packets -> 350 frames, last at 6.98s; lost 1, concealed 1, FEC 1
}
