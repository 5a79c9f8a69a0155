package voice

import (
	"context"
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/codec"
	"github.com/inferflow/inferflow/internal/rtc"
)

// queue is a peer whose packets have all arrived already.
type queue struct{ pkts []rtc.Packet }

func (q *queue) ReadPacket(ctx context.Context) (rtc.Packet, error) {
	if len(q.pkts) > 0 {
		p := q.pkts[0]
		q.pkts = q.pkts[1:]
		return p, nil
	}
	<-ctx.Done()
	return rtc.Packet{}, ctx.Err()
}

// A microphone loop woken late (here: half a second) finds its packets
// waiting; it must decode them, not conceal them as lost.
func TestMicTakesQueuedPacketsBeforeConcealing(t *testing.T) {
	pkts, err := codec.ReadPacketFile("../codec/testdata/speech-clean.opus.pkts")
	if err != nil {
		t.Fatal(err)
	}
	const n = 25
	start := time.Now().Add(-500 * time.Millisecond)
	q := &queue{}
	for i := range n {
		q.pkts = append(q.pkts, rtc.Packet{SequenceNumber: uint16(1000 + i), Timestamp: uint32(i * codec.OpusPacketTicks),
			Payload: pkts[i], Arrival: start.Add(time.Duration(i) * 20 * time.Millisecond)})
	}
	mic, err := NewMic(q, "audio/opus", 60*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range n {
		f, err := mic.NextFrame(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Concealed {
			t.Fatalf("frame %d concealed although its packet was waiting (stats %+v)", i, mic.Stats())
		}
		if want := time.Duration(i)*FrameDuration + tsOffset; f.Timestamp != want {
			t.Fatalf("frame %d at %v, want %v", i, f.Timestamp, want)
		}
	}
	if s := mic.Stats(); s.Lost != 0 || s.Late != 0 {
		t.Errorf("stats = %+v, want nothing lost or late", s)
	}
}
