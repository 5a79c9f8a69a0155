package voice

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/inferflow/inferflow/internal/codec"
	"github.com/inferflow/inferflow/internal/realtimemodel"
	"github.com/inferflow/inferflow/internal/realtimemodel/realtimetest"
)

// TestMain fails the package if any session leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The clean fixture (internal/codec/testdata) holds two utterances, at
// about 0.3–2.9 s and 3.5–6.6 s, the second running into a third that
// starts 100 ms later (one turn). gapAt is a frame inside the pause.
const (
	fixture = "../codec/testdata/speech-clean.opus.pkts"
	gapAt   = 160
)

// clipFrames decodes the fixture into 20 ms frames at 16 kHz.
func clipFrames(t *testing.T) [][]int16 {
	t.Helper()
	pkts, err := codec.ReadPacketFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	rx, err := codec.NewReceiver(codec.ReceiverConfig{Codec: codec.CodecOpus})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var frames [][]int16
	pop := func(now time.Time) {
		for {
			f, ok := rx.Pop(now)
			if !ok {
				return
			}
			frames = append(frames, append([]int16(nil), f.PCM...))
		}
	}
	for i, p := range pkts {
		now := start.Add(time.Duration(i) * FrameDuration)
		if err := rx.Push(codec.Packet{SequenceNumber: uint16(i), Timestamp: uint32(i * codec.OpusPacketTicks), Payload: p}, now); err != nil {
			t.Fatal(err)
		}
		pop(now)
	}
	pop(start.Add(time.Duration(len(pkts)+10) * FrameDuration))
	return frames
}

func silence(n int) [][]int16 {
	out := make([][]int16, n)
	for i := range out {
		out[i] = make([]int16, micSamples)
	}
	return out
}

// pacedMic plays frames in real time, then ends the caller's media.
type pacedMic struct {
	frames [][]int16
	i      int
	next   time.Time
}

func (m *pacedMic) NextFrame(ctx context.Context) (MicFrame, error) {
	if m.i == len(m.frames) {
		return MicFrame{}, io.EOF
	}
	if m.next.IsZero() {
		m.next = time.Now()
	}
	select {
	case <-ctx.Done():
		return MicFrame{}, ctx.Err()
	case <-time.After(time.Until(m.next)):
	}
	f := MicFrame{PCM: m.frames[m.i], Timestamp: time.Duration(m.i)*FrameDuration + tsOffset, Arrival: time.Now()}
	m.i++
	m.next = m.next.Add(FrameDuration)
	return f, nil
}

type speakerLog struct {
	mu     sync.Mutex
	frames int
}

func (s *speakerLog) WriteFrame(pcm []int16) error {
	if len(pcm) != playSamples {
		return errors.New("bad frame size")
	}
	s.mu.Lock()
	s.frames++
	s.mu.Unlock()
	return nil
}

type eventLog struct {
	mu   sync.Mutex
	msgs []Message
}

func (e *eventLog) SendEvent(b []byte) bool {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	e.mu.Lock()
	e.msgs = append(e.msgs, m)
	e.mu.Unlock()
	return true
}

func (e *eventLog) count(t MessageType) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, m := range e.msgs {
		if m.Type == t {
			n++
		}
	}
	return n
}

// recorderLog approves or refuses holds as told and keeps every record.
type recorderLog struct {
	mu       sync.Mutex
	records  []Record
	reserves []int
	hold     Hold
	err      error
}

func (r *recorderLog) Record(rec Record) {
	r.mu.Lock()
	r.records = append(r.records, rec)
	r.mu.Unlock()
}

func (r *recorderLog) ReserveResponse(_ context.Context, seq int) (Hold, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reserves = append(r.reserves, seq)
	return r.hold, r.err
}

func (r *recorderLog) of(k RecordKind) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Record
	for _, rec := range r.records {
		if rec.Kind == k {
			out = append(out, rec)
		}
	}
	return out
}

type callResult struct {
	rec    *recorderLog
	events *eventLog
	speak  *speakerLog
	sim    *realtimemodel.Simulated
	err    error
}

func runCall(t *testing.T, frames [][]int16, rec *recorderLog) callResult {
	t.Helper()
	sim, err := realtimemodel.NewSimulated(realtimemodel.SimConfig{SessionID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	res := callResult{rec: rec, events: &eventLog{}, speak: &speakerLog{}, sim: sim}
	s, err := New(Config{SessionID: "test", SnapshotEvery: time.Second},
		Deps{Mic: &pacedMic{frames: frames}, Speaker: res.speak, Events: res.events, Model: sim, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res.err = s.Run(ctx)
	return res
}

func TestSessionTurnsResponsesAndBilling(t *testing.T) {
	if testing.Short() {
		t.Skip("plays 13 s of audio in real time")
	}
	t.Parallel()
	clip := clipFrames(t)
	// A 3 s pause after each utterance lets the assistant answer in full.
	frames := append(append(append(append([][]int16{}, clip[:gapAt]...), silence(150)...), clip[gapAt:]...), silence(150)...)
	rec := &recorderLog{hold: Hold{OK: true, Amount: 1000}}
	res := runCall(t, frames, rec)
	if !errors.Is(res.err, io.EOF) {
		t.Fatalf("Run = %v, want the caller's media to end it (EOF)", res.err)
	}
	if n := len(rec.of(RecordTurnEnded)); n != 2 {
		t.Errorf("turns ended = %d, want 2", n)
	}
	done := rec.of(RecordResponseDone)
	if len(done) != 2 || len(rec.reserves) != 2 {
		t.Fatalf("responses done %d, reserves %d, want 2 each: %+v", len(done), len(rec.reserves), rec.records)
	}
	for i, d := range done {
		if d.Status != realtimemodel.StatusCompleted || !d.Billed || d.ResponseSeq != i+1 || d.Usage.OutputTokens == 0 || d.ResponseID == "" {
			t.Errorf("response %d = %+v, want completed, billed, with usage", i+1, d)
		}
	}
	if n := len(rec.of(RecordInterruption)); n != 0 {
		t.Errorf("interruptions = %d, want 0 (the caller waited)", n)
	}
	if c := rec.of(RecordClosed); len(c) != 1 {
		t.Errorf("closed records = %d, want 1", len(c))
	}
	// Every reply was played in full: the sim's output audio, at 16 kHz.
	want := int(res.sim.Stats().AudioOut) * PlayoutRate / realtimemodel.ServiceRate / playSamples
	if got := res.speak.frames; got < want-2*len(done) || got > want+2*len(done) {
		t.Errorf("played %d frames, want about %d", got, want)
	}
	for _, typ := range []MessageType{MsgSessionStarted, MsgTurnStarted, MsgTurnEnded, MsgResponseStarted, MsgResponseDone, MsgGateFigures, MsgGateState, MsgSessionEnded} {
		if res.events.count(typ) == 0 {
			t.Errorf("no %s message on the events channel", typ)
		}
	}
}

func TestSessionBargeInCancelsResponse(t *testing.T) {
	if testing.Short() {
		t.Skip("plays 10 s of audio in real time")
	}
	t.Parallel()
	clip := clipFrames(t)
	frames := append(append([][]int16{}, clip...), silence(150)...)
	rec := &recorderLog{hold: Hold{OK: true}}
	runCall(t, frames, rec)
	in := rec.of(RecordInterruption)
	if len(in) != 1 || in[0].ResponseSeq != 1 {
		t.Fatalf("interruptions = %+v, want one, of response 1", in)
	}
	done := rec.of(RecordResponseDone)
	if len(done) == 0 || done[0].Status != realtimemodel.StatusCancelled {
		t.Fatalf("first response done = %+v, want cancelled", done)
	}
}

func TestSessionRefusedHold(t *testing.T) {
	if testing.Short() {
		t.Skip("plays 6 s of audio in real time")
	}
	t.Parallel()
	clip := clipFrames(t)
	frames := append(append([][]int16{}, clip[:gapAt]...), silence(100)...)
	rec := &recorderLog{hold: Hold{OK: false, Reason: "insufficient credits"}}
	res := runCall(t, frames, rec)
	if len(rec.reserves) != 1 {
		t.Fatalf("reserves = %v, want one", rec.reserves)
	}
	if n := len(rec.of(RecordResponseStarted)); n != 0 {
		t.Errorf("responses started = %d, want none without a hold", n)
	}
	if res.sim.Stats().Responses != 0 {
		t.Errorf("the model made %d responses, want none", res.sim.Stats().Responses)
	}
	if res.events.count(MsgResponseRefused) != 1 {
		t.Errorf("response.refused messages = %d, want 1", res.events.count(MsgResponseRefused))
	}
}

func TestSessionBillingUnavailableGoesAhead(t *testing.T) {
	if testing.Short() {
		t.Skip("plays 7 s of audio in real time")
	}
	t.Parallel()
	clip := clipFrames(t)
	frames := append(append([][]int16{}, clip[:gapAt]...), silence(150)...)
	rec := &recorderLog{err: ErrBillingUnavailable}
	res := runCall(t, frames, rec)
	done := rec.of(RecordResponseDone)
	if len(done) != 1 || done[0].Billed || done[0].Status != realtimemodel.StatusCompleted {
		t.Fatalf("responses done = %+v, want one completed and not held", done)
	}
	if res.events.count(MsgBillingDegraded) != 1 {
		t.Errorf("billing.unavailable messages = %d, want 1", res.events.count(MsgBillingDegraded))
	}
}

// The same call against a realtime service over WebSocket (a local fake
// speaking the protocol) whose connection drops in the middle of the first
// answer: that answer ends as failed (its hold is released), the upstream
// reconnects, and the second turn is answered.
func TestSessionWebSocketUpstreamDropMidResponse(t *testing.T) {
	if testing.Short() {
		t.Skip("plays 13 s of audio in real time")
	}
	t.Parallel()
	fake := realtimetest.NewServer("test-key", realtimetest.Behavior{Deltas: 20, DeltaInterval: 20 * time.Millisecond, DropAfterDeltas: 3})
	defer fake.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	up, err := realtimemodel.NewWebSocket(ctx, realtimemodel.WSConfig{URL: fake.URL(), APIKey: "test-key",
		Reconnect: realtimemodel.ReconnectPolicy{MinBackoff: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	clip := clipFrames(t)
	frames := append(append(append(append([][]int16{}, clip[:gapAt]...), silence(150)...), clip[gapAt:]...), silence(150)...)
	rec := &recorderLog{hold: Hold{OK: true}}
	s, err := New(Config{SessionID: "ws"}, Deps{Mic: &pacedMic{frames: frames}, Speaker: &speakerLog{}, Events: &eventLog{}, Model: up, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		// Only the first answer's connection drops.
		for len(rec.of(RecordResponseDone)) == 0 && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
		fake.SetBehavior(realtimetest.Behavior{Deltas: 20, DeltaInterval: 20 * time.Millisecond})
	}()
	if err := s.Run(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Run = %v, want the caller's media to end it", err)
	}
	done := rec.of(RecordResponseDone)
	if len(done) != 2 || done[0].Status != realtimemodel.StatusFailed || done[1].Status != realtimemodel.StatusCompleted {
		t.Fatalf("responses done = %+v, want the first failed (connection lost) and the second completed", done)
	}
}
