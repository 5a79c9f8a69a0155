package realtimemodel

import (
	"encoding/json"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSimulatedTurn is the per-session cost of one conversational turn
// in fast mode: 1 s of user audio in 20 ms frames (resampled), commit,
// response, and reading every event of the 1.3 s reply. reply-s/s is the
// seconds of reply streamed per second of wall time (two goroutines: the
// caller and the model); BenchmarkPacedSessions measures CPU time.
func BenchmarkSimulatedTurn(b *testing.B) {
	for _, chunk := range []time.Duration{20 * time.Millisecond, 40 * time.Millisecond} {
		b.Run(chunk.String(), func(b *testing.B) {
			s, err := NewSimulated(SimConfig{Fast: true, ChunkDuration: chunk})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			frame := tone16k(320, 300)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for range 50 {
					if err := s.SendAudio(ctx(), frame); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.CommitTurn(ctx()); err != nil {
					b.Fatal(err)
				}
				if err := s.CreateResponse(ctx(), "b"); err != nil {
					b.Fatal(err)
				}
				for ev := range s.Events() {
					if ev.Type == TypeResponseDone {
						break
					}
				}
			}
			perTurn := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(1.3/perTurn, "reply-s/s")
		})
	}
}

// BenchmarkSimulatedSessionStart is the cost of starting and closing a
// session (session.created and session.updated read).
func BenchmarkSimulatedSessionStart(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		s, err := NewSimulated(SimConfig{})
		if err != nil {
			b.Fatal(err)
		}
		<-s.Events()
		<-s.Events()
		s.Close()
	}
}

// BenchmarkSendAudio20ms is SendAudio of one 20 ms frame: resampling and
// the hand-off to the model goroutine.
func BenchmarkSendAudio20ms(b *testing.B) {
	s, err := NewSimulated(SimConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	frame := tone16k(320, 300)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.SendAudio(ctx(), frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAudioDelta is parsing one 40 ms audio delta, what a network
// upstream does per chunk.
func BenchmarkParseAudioDelta(b *testing.B) {
	v := &ResponseOutputAudioDelta{Type: TypeResponseOutputAudioDelta, EventID: "event_1", ResponseID: "resp_1",
		ItemID: "item_1", Delta: EncodeAudio(tone16k(960, 300))}
	raw, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseServerEvent(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPacedSessions runs N concurrent sessions in real time, each one
// turn (1 s of user audio in 20 ms frames at the pace of a microphone, then
// a 1.3 s paced reply read by its own consumer goroutine), and reports the
// process CPU time per session-second of wall time: cpu-ms/session-s. The
// share of one core that N sessions take is N × that / 1000.
func BenchmarkPacedSessions(b *testing.B) {
	for _, n := range []int{200} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				cpu0 := cpuTime()
				start := time.Now()
				var wg sync.WaitGroup
				for range n {
					wg.Go(func() {
						s, err := NewSimulated(SimConfig{})
						if err != nil {
							b.Error(err)
							return
						}
						defer s.Close()
						var reader sync.WaitGroup
						reader.Go(func() {
							for ev := range s.Events() {
								if ev.Type == TypeResponseDone {
									return
								}
							}
						})
						frame := tone16k(320, 300)
						tick := time.NewTicker(20 * time.Millisecond)
						defer tick.Stop()
						for range 50 {
							<-tick.C
							if err := s.SendAudio(ctx(), frame); err != nil {
								b.Error(err)
								return
							}
						}
						if s.CommitTurn(ctx()) != nil || s.CreateResponse(ctx(), "") != nil {
							b.Error("turn failed")
						}
						reader.Wait()
					})
				}
				wg.Wait()
				wall := time.Since(start)
				b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/(float64(n)*wall.Seconds()), "cpu-ms/session-s")
			}
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
