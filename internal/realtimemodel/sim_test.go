package realtimemodel

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
)

func TestTurnEventSequence(t *testing.T) {
	tests := []struct {
		name       string
		samples    int // user turn at 16 kHz
		tag        string
		chunk      time.Duration
		wantIn     int64 // tokens
		wantOut    int64
		wantOutLen int // reply samples at 24 kHz
	}{
		{"1s turn", 16000, "hold-1", 40 * time.Millisecond, 10, 26, 31200},
		{"0.3s turn no tag", 4800, "", 40 * time.Millisecond, 3, 19, 22800},
		{"6s turn clamps reply", 96000, "h", 20 * time.Millisecond, 60, 50, 60000},
		{"1.05s turn rounds up", 16800, "x", 30 * time.Millisecond, 11, 27, 31800},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, SimConfig{Fast: true, ChunkDuration: tc.chunk, Seed: 7})
			sendTurn(t, s, tc.samples, 300)
			must(t, s.CommitTurn(ctx()))
			must(t, s.CreateResponse(ctx(), tc.tag))
			evs := collectUntil(t, s, isType(TypeResponseDone))

			got := types(evs)
			head := []string{TypeSessionCreated, TypeSessionUpdated, TypeInputAudioBufferCommitted,
				TypeResponseCreated, TypeRateLimitsUpdated}
			if !reflect.DeepEqual(got[:len(head)], head) {
				t.Fatalf("head = %v, want %v", got[:len(head)], head)
			}
			if tail := got[len(got)-2:]; tail[0] != TypeResponseOutputAudioDone || tail[1] != TypeResponseDone {
				t.Fatalf("tail = %v", tail)
			}
			created := evs[3].Value.(*ResponseCreated)
			if created.Response.ID != "resp_1" || created.Response.Status != StatusInProgress {
				t.Fatalf("response.created = %+v", created.Response)
			}
			if tc.tag != "" && created.Response.Metadata[MetadataTagKey] != tc.tag {
				t.Fatalf("tag not echoed: %v", created.Response.Metadata)
			}

			var audio []int16
			var transcript strings.Builder
			chunk := int(SamplesOf(tc.chunk))
			for _, ev := range evs[len(head) : len(evs)-2] {
				if ev.ResponseID() != "resp_1" {
					t.Fatalf("%s for response %q", ev.Type, ev.ResponseID())
				}
				switch v := ev.Value.(type) {
				case *ResponseOutputAudioDelta:
					if len(v.Audio) == 0 || len(v.Audio) > chunk {
						t.Fatalf("delta of %d samples, chunk %d", len(v.Audio), chunk)
					}
					audio = append(audio, v.Audio...)
				case *ResponseOutputAudioTranscriptDelta:
					transcript.WriteString(v.Delta)
				default:
					t.Fatalf("unexpected %s mid-response", ev.Type)
				}
			}
			if len(audio) != tc.wantOutLen || int64(len(audio)) != ReplySamples(SamplesOf(time.Duration(tc.samples)*time.Second/InputRate)) {
				t.Fatalf("reply %d samples, want %d", len(audio), tc.wantOutLen)
			}
			text := transcript.String()
			if text == "" || !unicode.IsUpper(rune(text[0])) || !strings.HasSuffix(text, ".") {
				t.Fatalf("transcript %q", text)
			}

			done := evs[len(evs)-1].Value.(*ResponseDone)
			u := done.Response.Usage
			if done.Response.Status != StatusCompleted || u == nil {
				t.Fatalf("response.done = %+v", done.Response)
			}
			if u.InputTokens != tc.wantIn || u.OutputTokens != tc.wantOut || u.TotalTokens != tc.wantIn+tc.wantOut ||
				u.InputTokenDetails.AudioTokens != tc.wantIn || u.OutputTokenDetails.AudioTokens != tc.wantOut {
				t.Fatalf("usage %+v in %+v out %+v, want in %d out %d", u, u.InputTokenDetails, u.OutputTokenDetails, tc.wantIn, tc.wantOut)
			}
			if tc.tag != "" && done.Response.Metadata[MetadataTagKey] != tc.tag {
				t.Fatalf("tag not echoed in response.done")
			}

			wantStats := SimStats{AudioIn: int64(tc.samples), Committed: int64(tc.samples) * 3 / 2,
				Responses: 1, AudioOut: int64(tc.wantOutLen)}
			if st := s.Stats(); st != wantStats {
				t.Fatalf("Stats = %+v, want %+v", st, wantStats)
			}

			// Value and Raw agree, and event ids are unique.
			seen := map[string]bool{}
			for _, ev := range evs {
				p, err := ParseServerEvent(ev.Raw)
				if err != nil {
					t.Fatalf("%s: %v\n%s", ev.Type, err, ev.Raw)
				}
				if p.Type != ev.Type || !reflect.DeepEqual(p.Value, ev.Value) {
					t.Fatalf("%s: parsed %#v, delivered %#v", ev.Type, p.Value, ev.Value)
				}
				id := reflect.ValueOf(ev.Value).Elem().FieldByName("EventID").String()
				if id == "" || seen[id] {
					t.Fatalf("%s: event id %q empty or repeated", ev.Type, id)
				}
				seen[id] = true
			}
		})
	}
}

func TestSessionStartTurnsDetectionOff(t *testing.T) {
	s := newSim(t, SimConfig{SessionID: "sess_42"})
	created := collectUntil(t, s, isType(TypeSessionCreated))[0].Value.(*SessionCreated)
	updated := collectUntil(t, s, isType(TypeSessionUpdated))[0]
	if created.Session.ID != "sess_42" || created.Session.Audio.Input.TurnDetection == nil {
		t.Fatalf("session.created %+v", created.Session)
	}
	if u := updated.Value.(*SessionUpdated); u.Session.Audio.Input.TurnDetection != nil ||
		u.Session.Audio.Output.Format.Rate != ServiceRate {
		t.Fatalf("session.updated %+v", u.Session.Audio)
	}
	if !bytes.Contains(updated.Raw, []byte(`"turn_detection":null`)) {
		t.Fatalf("session.updated raw lacks turn_detection null: %s", updated.Raw)
	}
}

func TestCancelMidResponse(t *testing.T) {
	tests := []struct {
		name        string
		cfg         SimConfig
		afterDeltas int
		maxWait     time.Duration // from the cancel call to response.done
	}{
		{"fast small buffer", SimConfig{Fast: true, EventBuffer: 4}, 3, waitFor},
		{"paced", SimConfig{ChunkDuration: 20 * time.Millisecond}, 2, 500 * time.Millisecond},
		{"paced before first audio", SimConfig{ResponseLatency: 2 * time.Second}, 0, 500 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, tc.cfg)
			sendTurn(t, s, 32000, 200) // 2 s: reply 1.8 s
			must(t, s.CommitTurn(ctx()))
			must(t, s.CreateResponse(ctx(), ""))
			evs := collectUntil(t, s, isType(TypeResponseCreated))
			sent := 0
			for n := 0; n < tc.afterDeltas; {
				ev, _ := next(t, s)
				evs = append(evs, ev)
				if d, ok := ev.Value.(*ResponseOutputAudioDelta); ok {
					n++
					sent += len(d.Audio)
				}
			}
			start := time.Now()
			must(t, s.CancelResponse(ctx()))
			rest := collectUntil(t, s, isType(TypeResponseDone))
			if wait := time.Since(start); wait > tc.maxWait {
				t.Fatalf("response.done %v after cancel", wait)
			}
			for _, ev := range rest {
				if d, ok := ev.Value.(*ResponseOutputAudioDelta); ok {
					sent += len(d.Audio) // produced before the cancel was seen
				}
				if ev.Type == TypeResponseOutputAudioDone {
					t.Fatal("output_audio.done after cancel")
				}
			}
			done := rest[len(rest)-1].Value.(*ResponseDone)
			if done.Response.Status != StatusCancelled || done.Response.ID != "resp_1" {
				t.Fatalf("response.done %+v", done.Response)
			}
			if int64(sent) >= ReplySamples(48000) {
				t.Fatalf("cancel was not mid-response: %d samples sent", sent)
			}
			want := SimUsage(48000, int64(sent))
			if !reflect.DeepEqual(*done.Response.Usage, want) {
				t.Fatalf("usage %+v, want %+v", *done.Response.Usage, want)
			}
			cleared, _ := next(t, s)
			if c, ok := cleared.Value.(*OutputAudioBufferCleared); !ok || c.ResponseID != "resp_1" {
				t.Fatalf("after response.done: %s %s", cleared.Type, cleared.Raw)
			}
			// Nothing more of resp_1, and the next turn is answered.
			sendTurn(t, s, 8000, 250)
			must(t, s.CommitTurn(ctx()))
			must(t, s.CreateResponse(ctx(), ""))
			for _, ev := range collectUntil(t, s, isType(TypeResponseCreated)) {
				if ev.ResponseID() == "resp_1" {
					t.Fatalf("%s of resp_1 after cancel", ev.Type)
				}
			}
			must(t, s.CancelResponse(ctx()))
			collectUntil(t, s, isType(TypeOutputAudioBufferCleared))
		})
	}
}

func TestProtocolErrors(t *testing.T) {
	type step func(t *testing.T, s *Simulated)
	send := func(n int) step { return func(t *testing.T, s *Simulated) { sendTurn(t, s, n, 300) } }
	commit := func(t *testing.T, s *Simulated) { must(t, s.CommitTurn(ctx())) }
	create := func(t *testing.T, s *Simulated) { must(t, s.CreateResponse(ctx(), "")) }
	cancel := func(t *testing.T, s *Simulated) { must(t, s.CancelResponse(ctx())) }
	clear := func(t *testing.T, s *Simulated) { must(t, s.ClearInput(ctx())) }
	tests := []struct {
		name  string
		steps []step
		want  []string // event types after session.updated; "error:<code>" for errors
	}{
		{"create with nothing committed", []step{create},
			[]string{"error:" + CodeNoCommittedAudio}},
		{"commit under 100 ms", []step{send(1440), commit},
			[]string{"error:" + CodeCommitEmpty}},
		{"commit exactly 100 ms", []step{send(1600), commit},
			[]string{TypeInputAudioBufferCommitted}},
		{"cleared audio is not committed", []step{send(8000), clear, commit, create},
			[]string{TypeInputAudioBufferCleared, "error:" + CodeCommitEmpty, "error:" + CodeNoCommittedAudio}},
		{"cancel with no response", []step{cancel},
			[]string{"error:" + CodeCancelNotActive, TypeOutputAudioBufferCleared}},
		{"create while a response runs", []step{send(8000), commit, create, create, cancel},
			[]string{TypeInputAudioBufferCommitted, TypeResponseCreated, TypeRateLimitsUpdated,
				"error:" + CodeActiveResponse, TypeResponseDone, TypeOutputAudioBufferCleared}},
		{"second create answers nothing new", []step{send(8000), commit, create, cancel, create},
			[]string{TypeInputAudioBufferCommitted, TypeResponseCreated, TypeRateLimitsUpdated,
				TypeResponseDone, TypeOutputAudioBufferCleared, "error:" + CodeNoCommittedAudio}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Paced with a long latency: a response stays active, audio-less.
			s := newSim(t, SimConfig{ResponseLatency: 10 * time.Second})
			collectUntil(t, s, isType(TypeSessionUpdated))
			for _, st := range tc.steps {
				st(t, s)
			}
			var got []string
			for range tc.want {
				ev, _ := next(t, s)
				name := ev.Type
				if e, ok := ev.Value.(*ErrorEvent); ok {
					name += ":" + e.Error.Code
				}
				got = append(got, name)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("events %v, want %v", got, tc.want)
			}
			select {
			case ev := <-s.Events():
				t.Fatalf("unexpected extra event %s", ev.Raw)
			case <-time.After(50 * time.Millisecond):
			}
		})
	}
}

func TestFailAfterDeltas(t *testing.T) {
	t.Run("upstream ends", func(t *testing.T) {
		s := newSim(t, SimConfig{Fast: true, FailAfterDeltas: 3})
		sendTurn(t, s, 16000, 300)
		must(t, s.CommitTurn(ctx()))
		must(t, s.CreateResponse(ctx(), ""))
		evs := drainClosed(t, s)
		deltas := 0
		for _, ev := range evs {
			if ev.Type == TypeResponseOutputAudioDelta {
				deltas++
			}
			if ev.Type == TypeResponseDone {
				t.Fatal("response.done from a dropped upstream")
			}
		}
		last := evs[len(evs)-1].Value
		if e, ok := last.(*ErrorEvent); !ok || e.Error.Code != CodeServerError || deltas != 3 {
			t.Fatalf("deltas %d, last %#v", deltas, last)
		}
		if !errors.Is(s.Err(), ErrSimulatedFailure) {
			t.Fatalf("Err = %v", s.Err())
		}
		if err := s.CommitTurn(ctx()); !errors.Is(err, ErrSimulatedFailure) {
			t.Fatalf("CommitTurn after failure = %v", err)
		}
		s.Close()
		if !errors.Is(s.Err(), ErrSimulatedFailure) {
			t.Fatalf("Close replaced the failure: %v", s.Err())
		}
	})
	t.Run("response fails, upstream stays", func(t *testing.T) {
		s := newSim(t, SimConfig{Fast: true, FailAfterDeltas: 2, FailResponseOnly: true})
		sendTurn(t, s, 16000, 300)
		must(t, s.CommitTurn(ctx()))
		must(t, s.CreateResponse(ctx(), ""))
		evs := collectUntil(t, s, isType(TypeResponseDone))
		sent := 0
		for _, ev := range evs {
			if d, ok := ev.Value.(*ResponseOutputAudioDelta); ok {
				sent += len(d.Audio)
			}
		}
		r := evs[len(evs)-1].Value.(*ResponseDone).Response
		if r.Status != StatusFailed || r.StatusDetails == nil || r.StatusDetails.Error.Code != CodeServerError ||
			!reflect.DeepEqual(*r.Usage, SimUsage(24000, int64(sent))) || sent != 2*int(SamplesOf(defaultChunk)) {
			t.Fatalf("response.done %+v usage %+v, %d samples sent", r, r.Usage, sent)
		}
		sendTurn(t, s, 8000, 300)
		must(t, s.CommitTurn(ctx()))
		must(t, s.CreateResponse(ctx(), ""))
		done := collectUntil(t, s, isType(TypeResponseDone))
		if st := done[len(done)-1].Value.(*ResponseDone).Response.Status; st != StatusCompleted {
			t.Fatalf("second response %s", st)
		}
		if s.Err() != nil {
			t.Fatalf("Err = %v", s.Err())
		}
	})
}

func TestSlowConsumerEndsUpstream(t *testing.T) {
	s := newSim(t, SimConfig{Fast: true, EventBuffer: 2, SlowConsumerTimeout: 20 * time.Millisecond})
	sendTurn(t, s, 16000, 300)
	must(t, s.CommitTurn(ctx()))
	must(t, s.CreateResponse(ctx(), ""))
	// Read nothing: the simulator must give up, not block forever.
	deadline := time.Now().Add(waitFor)
	for s.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !errors.Is(s.Err(), ErrSlowConsumer) {
		t.Fatalf("Err = %v", s.Err())
	}
	if evs := drainClosed(t, s); len(evs) != 2 {
		t.Fatalf("%d buffered events, want the 2 that fit", len(evs))
	}
	if err := s.SendAudio(ctx(), tone16k(320, 300)); !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("SendAudio after end = %v", err)
	}
}

func TestCloseWhileStreaming(t *testing.T) {
	for _, fast := range []bool{false, true} {
		s, err := NewSimulated(SimConfig{Fast: fast, EventBuffer: 8})
		must(t, err)
		sendTurn(t, s, 16000, 300)
		must(t, s.CommitTurn(ctx()))
		must(t, s.CreateResponse(ctx(), ""))
		collectUntil(t, s, isType(TypeResponseOutputAudioDelta))
		var wg sync.WaitGroup
		for range 3 { // concurrent and repeated Close
			wg.Go(func() { _ = s.Close() })
		}
		wg.Wait()
		must(t, s.Close())
		if !errors.Is(s.Err(), ErrClosed) {
			t.Fatalf("Err = %v", s.Err())
		}
		for range s.Events() { // closed: ends after what was buffered
		}
		if err := s.CreateResponse(ctx(), ""); !errors.Is(err, ErrClosed) {
			t.Fatalf("CreateResponse after Close = %v", err)
		}
	}
	// goleak.VerifyTestMain checks the whole package; check here too so a
	// leak is pinned on this test.
	verifyNoLeak(t)
}

func TestInvalidInput(t *testing.T) {
	s := newSim(t, SimConfig{})
	if err := s.SendAudio(ctx(), make([]int16, MaxAppendSamples+1)); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("oversized SendAudio = %v", err)
	}
	if err := s.CreateResponse(ctx(), strings.Repeat("x", MaxTagBytes+1)); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("oversized tag = %v", err)
	}
	cctx, cancel := context.WithCancel(ctx())
	cancel()
	if err := s.CommitTurn(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("CommitTurn with done ctx = %v", err)
	}
	for _, cfg := range []SimConfig{
		{ChunkDuration: time.Millisecond}, {ChunkDuration: time.Second}, {EventBuffer: -1},
		{EventBuffer: 5000}, {SlowConsumerTimeout: -1}, {FailAfterDeltas: -1},
		{ResponseLatency: time.Minute}, {SessionID: strings.Repeat("s", MaxIDBytes+1)},
	} {
		if _, err := NewSimulated(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("NewSimulated(%+v) = %v", cfg, err)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	s := newSim(t, SimConfig{Fast: true, EventBuffer: 16})
	var reader sync.WaitGroup
	var dones int
	reader.Go(func() {
		for ev := range s.Events() {
			if ev.Type == TypeResponseDone {
				dones++
			}
			_ = s.Err()
		}
	})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				if err := s.SendAudio(ctx(), tone16k(320, float64(200+g*50+i))); err != nil {
					t.Error(err)
					return
				}
				switch i % 10 {
				case 4:
					_ = s.CommitTurn(ctx())
				case 5:
					_ = s.CreateResponse(ctx(), "t")
				case 8:
					_ = s.CancelResponse(ctx())
				}
			}
		})
	}
	wg.Wait()
	must(t, s.CommitTurn(ctx()))
	must(t, s.CreateResponse(ctx(), ""))
	time.Sleep(20 * time.Millisecond)
	s.Close()
	reader.Wait()
	if dones == 0 {
		t.Fatal("no response finished")
	}
}

func TestDeterministic(t *testing.T) {
	run := func(seed uint64, hz float64) [][]byte {
		s := newSim(t, SimConfig{Fast: true, Seed: seed})
		sendTurn(t, s, 12000, hz)
		must(t, s.CommitTurn(ctx()))
		must(t, s.CreateResponse(ctx(), "d"))
		var raws [][]byte
		for _, ev := range collectUntil(t, s, isType(TypeResponseDone)) {
			raws = append(raws, ev.Raw)
		}
		return raws
	}
	a, b := run(1, 300), run(1, 300)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed and input gave different events")
	}
	for _, other := range [][][]byte{run(2, 300), run(1, 310)} {
		if reflect.DeepEqual(a, other) {
			t.Fatal("a different seed or input gave the same reply")
		}
	}
}

func TestPacedInRealTime(t *testing.T) {
	const latency = 100 * time.Millisecond
	s := newSim(t, SimConfig{ResponseLatency: latency})
	sendTurn(t, s, 3200, 300) // 0.2 s: reply 0.9 s
	must(t, s.CommitTurn(ctx()))
	must(t, s.CreateResponse(ctx(), ""))
	collectUntil(t, s, isType(TypeResponseCreated))
	start := time.Now()
	collectUntil(t, s, isType(TypeResponseOutputAudioDelta))
	first := time.Since(start)
	collectUntil(t, s, isType(TypeResponseDone))
	total := time.Since(start)
	// The last chunk leaves one chunk before the reply's end.
	want := latency + 900*time.Millisecond - defaultChunk
	if first < latency-10*time.Millisecond || total < want-20*time.Millisecond || total > want+time.Second {
		t.Fatalf("first audio after %v, done after %v; want about %v and %v", first, total, latency, want)
	}
}
