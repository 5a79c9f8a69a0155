package gate

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"
)

// FuzzValidateFrame: any frame is accepted or rejected with a *FrameError,
// never a panic, by Validate and by a live gate.
func FuzzValidateFrame(f *testing.F) {
	f.Add(16000, int64(20*time.Millisecond), int64(0), false, "s", "m", "u", make([]byte, 640))
	f.Add(48000, int64(10*time.Millisecond), int64(5), true, "s", "m", "u", make([]byte, 1920))
	f.Add(8000, int64(30*time.Millisecond), int64(-1), true, "", "m", "u", []byte{0, 0, 0xc0, 0x7f})
	f.Add(-1, int64(0), int64(0), false, "s", "", "u", []byte{})
	g, err := newGate(Config{}, Deps{Uplink: &recUplink{}, Clock: NewManualClock(t0)}, vadFactory)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { g.Close() })
	f.Fuzz(func(t *testing.T, rate int, dur, ts int64, float bool, sess, stream, spk string, data []byte) {
		fr := Frame{SessionID: sess, StreamID: stream, SpeakerID: spk, SampleRate: rate,
			Duration: time.Duration(dur), Timestamp: time.Duration(ts)}
		if float {
			fr.Float32 = make([]float32, len(data)/4)
			for i := range fr.Float32 {
				fr.Float32[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			}
		} else {
			fr.Int16 = make([]int16, len(data)/2)
			for i := range fr.Int16 {
				fr.Int16[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
			}
		}
		check := func(err error) {
			if err == nil {
				return
			}
			var fe *FrameError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidFrame) || fe.Reason == "" || fe.Error() == "" {
				t.Fatalf("untyped error %T %v", err, err)
			}
		}
		check(fr.Validate())
		_, err := g.ProcessFrame(fr)
		if err != nil && !errors.Is(err, ErrInvalidFrame) && !errors.Is(err, ErrQueueFull) && !errors.Is(err, ErrHeldFull) {
			t.Fatalf("unexpected error %v", err)
		}
		if errors.Is(err, ErrInvalidFrame) {
			check(err)
		}
		check(g.ProcessFarEnd(fr))
	})
}

// FuzzHandleServerEvent: arbitrary server events never panic and never
// break frame processing.
func FuzzHandleServerEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"response.created","response":{"id":"r1"}}`,
		`{"type":"response.done","response_id":"r1"}`,
		`{"type":"response.done","response":{"id":5}}`,
		`{"type":"output_audio_buffer.cleared"}`,
		`{"type":7}`, `null`, `[]`, `{"response":null}`, ``,
	} {
		f.Add([]byte(s), int64(10))
	}
	f.Fuzz(func(t *testing.T, data []byte, advanceMS int64) {
		clk := NewManualClock(t0)
		g, err := newGate(Config{}, Deps{Uplink: &recUplink{}, Clock: clk, OnEvent: func(Event) {}}, scriptFactory)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		if err := g.HandleServerEventJSON(data); err != nil && !errors.Is(err, ErrServerEvent) {
			t.Fatalf("untyped error %v", err)
		}
		ev, _ := ParseServerEvent(data)
		g.HandleServerEvent(ev)
		g.HandleServerEvent(ServerEvent{Type: string(data), ResponseID: string(data)})
		clk.Advance(time.Duration(advanceMS%10000) * time.Millisecond)
		if _, err := g.ProcessFrame(mkFrame(kSpeech)); err != nil {
			t.Fatal(err)
		}
		_ = g.Snapshot()
	})
}
