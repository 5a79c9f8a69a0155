package gate

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestInvalidFrames(t *testing.T) {
	ok := func() Frame { return mkFrame(kSpeech) }
	floatFrame := func(v float32) Frame {
		f := ok()
		f.Int16 = nil
		f.Float32 = make([]float32, 320)
		f.Float32[7] = v
		return f
	}
	tests := []struct {
		name   string
		mod    func(*Frame)
		reason FrameReason
	}{
		{"no session", func(f *Frame) { f.SessionID = "" }, ReasonMissingID},
		{"no stream", func(f *Frame) { f.StreamID = "" }, ReasonMissingID},
		{"no speaker", func(f *Frame) { f.SpeakerID = "" }, ReasonMissingID},
		{"nil samples", func(f *Frame) { f.Int16 = nil }, ReasonEmpty},
		{"empty int16", func(f *Frame) { f.Int16 = []int16{} }, ReasonEmpty},
		{"both formats", func(f *Frame) { f.Float32 = make([]float32, 320) }, ReasonAmbiguousSamples},
		{"zero rate", func(f *Frame) { f.SampleRate = 0 }, ReasonSampleRate},
		{"negative rate", func(f *Frame) { f.SampleRate = -16000 }, ReasonSampleRate},
		{"unsupported rate", func(f *Frame) { f.SampleRate = 44100 }, ReasonSampleRate},
		{"zero duration", func(f *Frame) { f.Duration = 0 }, ReasonDuration},
		{"negative duration", func(f *Frame) { f.Duration = -20 * time.Millisecond }, ReasonDuration},
		{"too short", func(f *Frame) { f.Duration = 5 * time.Millisecond }, ReasonDuration},
		{"too long", func(f *Frame) { f.Duration = 40 * time.Millisecond }, ReasonDuration},
		{"short samples", func(f *Frame) { f.Int16 = f.Int16[:319] }, ReasonLength},
		{"rate mismatch", func(f *Frame) { f.SampleRate = 8000 }, ReasonLength},
		{"fractional samples", func(f *Frame) { f.SampleRate = 8000; f.Duration = 10*time.Millisecond + 1 }, ReasonLength},
		{"negative timestamp", func(f *Frame) { f.Timestamp = -1 }, ReasonTimestamp},
		{"NaN", func(f *Frame) { *f = floatFrame(float32(math.NaN())) }, ReasonNonFinite},
		{"+Inf", func(f *Frame) { *f = floatFrame(float32(math.Inf(1))) }, ReasonNonFinite},
		{"-Inf", func(f *Frame) { *f = floatFrame(float32(math.Inf(-1))) }, ReasonNonFinite},
		{"above 1", func(f *Frame) { *f = floatFrame(1.5) }, ReasonOutOfRange},
		{"below -1", func(f *Frame) { *f = floatFrame(-1.0001) }, ReasonOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{}, Deps{})
			f := ok()
			tc.mod(&f)
			if err := f.Validate(); err == nil {
				t.Fatal("Validate accepted it")
			}
			out, err := h.g.ProcessFrame(f)
			var fe *FrameError
			if !errors.As(err, &fe) || fe.Reason != tc.reason || !errors.Is(err, ErrInvalidFrame) {
				t.Fatalf("err %v (%T), want reason %s", err, err, tc.reason)
			}
			if out.Action != Rejected || out.Reason != ReasonInvalidFrame {
				t.Fatalf("outcome %+v", out)
			}
			if m := h.g.Metrics(); m.FramesDroppedInvalid != 1 || m.FramesTotal != 1 {
				t.Fatalf("metrics %+v", m)
			}
			if ev := h.log.of(EventError); len(ev) != 1 || ev[0].Code != CodeInvalidFrame {
				t.Fatalf("events %+v", ev)
			}
			// Far-end frames are validated the same way.
			err = h.g.ProcessFarEnd(f)
			if !errors.As(err, &fe) || fe.Reason != tc.reason || !fe.FarEnd {
				t.Fatalf("far end: %v", err)
			}
			if h.g.Metrics().FarEndFramesInvalid != 1 {
				t.Fatal("far-end invalid not counted")
			}
		})
	}
}

func TestValidFrames(t *testing.T) {
	h := newHarness(t, Config{}, Deps{})
	for _, rate := range []int{8000, 16000, 24000, 48000} {
		for _, ms := range []int{10, 20, 30} {
			n := rate * ms / 1000
			f := Frame{SessionID: "s", StreamID: "st", SpeakerID: "u", SampleRate: rate,
				Duration: time.Duration(ms) * time.Millisecond, Int16: make([]int16, n)}
			if _, err := h.g.ProcessFrame(f); err != nil {
				t.Fatalf("%d Hz %d ms int16: %v", rate, ms, err)
			}
			f.Int16, f.Float32 = nil, make([]float32, n)
			f.Float32[0], f.Float32[1] = 1, -1
			if _, err := h.g.ProcessFrame(f); err != nil {
				t.Fatalf("%d Hz %d ms float32: %v", rate, ms, err)
			}
		}
	}
	if s := h.g.Snapshot(); s.Streams != 4 {
		t.Fatalf("%d streams, want one per rate", s.Streams)
	}
}

func TestTimestampsBackwards(t *testing.T) {
	h := newHarness(t, Config{}, Deps{})
	f := mkFrame(kSpeech)
	f.Timestamp = 100 * time.Millisecond
	if _, err := h.g.ProcessFrame(f); err != nil {
		t.Fatal(err)
	}
	f.Timestamp = 100 * time.Millisecond // equal is allowed (duplicate clock)
	if _, err := h.g.ProcessFrame(f); err != nil {
		t.Fatal(err)
	}
	f.Timestamp = 80 * time.Millisecond
	_, err := h.g.ProcessFrame(f)
	var fe *FrameError
	if !errors.As(err, &fe) || fe.Reason != ReasonTimestampBack {
		t.Fatalf("backwards: %v", err)
	}
	// Another stream has its own timeline.
	f.StreamID = "other"
	if _, err := h.g.ProcessFrame(f); err != nil {
		t.Fatal(err)
	}
	// Far-end timestamps are checked separately from the microphone's.
	f.StreamID = "mic"
	f.Timestamp = 10 * time.Millisecond
	if err := h.g.ProcessFarEnd(f); err != nil {
		t.Fatal(err)
	}
}

func TestTooManyStreams(t *testing.T) {
	h := newHarness(t, Config{MaxStreams: 2}, Deps{})
	for i, id := range []string{"a", "b", "c"} {
		f := mkFrame(kSilence)
		f.StreamID = id
		_, err := h.g.ProcessFrame(f)
		var fe *FrameError
		if i < 2 && err != nil || i == 2 && (!errors.As(err, &fe) || fe.Reason != ReasonTooManyStreams) {
			t.Fatalf("stream %s: %v", id, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	up := &recUplink{}
	bad := []Config{
		{Hangover: -1},
		{MaxQueueDepth: -1},
		{OverflowPolicy: "lifo"},
		{BargeIn: "maybe"},
	}
	for _, c := range bad {
		if _, err := New(c, Deps{Uplink: up}); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	if _, err := New(Config{}, Deps{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("nil uplink: %v", err)
	}
	g, err := New(Config{}, Deps{Uplink: up})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c := g.Config()
	if c.Hangover != 220*time.Millisecond || c.AssistantTailHold != 180*time.Millisecond ||
		c.MaxHoldBuffer != 2200*time.Millisecond || c.MaxHeldFrames != 80 || c.UplinkTimeout != 120*time.Millisecond ||
		c.MaxQueueDepth != 4 || c.MaxConcurrentUplinks != 1 || c.OverflowPolicy != DropOldest || c.StreamLabel != "default" {
		t.Fatalf("defaults %+v", c)
	}
}
