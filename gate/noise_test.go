package gate

import (
	"context"
	"math"
	"math/rand"
	"testing"
	"time"
)

// TestSnapshotNoiseFloor runs white noise through the real detector: the
// snapshot's floor follows the background (20 dB louder noise raises it by
// about 20 dB), per stream, and NoiseFloorDB is the latest stream's.
func TestSnapshotNoiseFloor(t *testing.T) {
	clk := NewManualClock(t0)
	g, err := New(Config{}, Deps{Clock: clk, Uplink: UplinkFunc(func(context.Context, Frame, Lane) error { return nil })})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if s := g.Snapshot(); s.NoiseFloorDB != 0 || len(s.Noise) != 0 {
		t.Fatalf("before any frame: %v %+v", s.NoiseFloorDB, s.Noise)
	}
	rng := rand.New(rand.NewSource(7))
	ts := map[string]time.Duration{}
	feed := func(stream string, sigma float64, seconds int) {
		for i := 0; i < seconds*50; i++ {
			s := make([]int16, 320)
			for j := range s {
				s[j] = int16(max(-32768, min(32767, math.Round(rng.NormFloat64()*sigma))))
			}
			ts[stream] += 20 * time.Millisecond
			clk.Advance(20 * time.Millisecond)
			if _, err := g.ProcessFrame(Frame{SessionID: "s", SpeakerID: "u", StreamID: stream, SampleRate: 16000, Duration: 20 * time.Millisecond, Int16: s, Timestamp: ts[stream]}); err != nil {
				t.Fatal(err)
			}
		}
	}
	feed("a", 30, 3)
	quiet := g.Snapshot()
	feed("a", 300, 4)
	loud := g.Snapshot()
	if len(quiet.Noise) != 1 || quiet.Noise[0].StreamID != "a" || quiet.Noise[0].SampleRate != 16000 {
		t.Fatalf("noise %+v", quiet.Noise)
	}
	q, l := quiet.Noise[0], loud.Noise[0]
	if q.FloorDB != quiet.NoiseFloorDB || l.FloorDB != loud.NoiseFloorDB {
		t.Fatal("NoiseFloorDB is not the stream's floor")
	}
	t.Logf("quiet %+v loud %+v", q, l)
	if d := l.FloorDB - q.FloorDB; d < 16 || d > 24 {
		t.Fatalf("floor %0.1f dB -> %0.1f dB for +20 dB of noise", q.FloorDB, l.FloorDB)
	}
	// Stationary noise: the frame level sits near the floor.
	for _, n := range []StreamNoise{q, l} {
		if n.FloorDB < -85 || math.Abs(float64(n.LevelDB-n.FloorDB)) > 6 {
			t.Fatalf("%+v", n)
		}
	}
	feed("b", 30, 3)
	s := g.Snapshot()
	if len(s.Noise) != 2 || s.Noise[1].StreamID != "b" || s.NoiseFloorDB != s.Noise[1].FloorDB || s.Noise[0].FloorDB-s.Noise[1].FloorDB < 16 {
		t.Fatalf("two streams: %v %+v", s.NoiseFloorDB, s.Noise)
	}
}
