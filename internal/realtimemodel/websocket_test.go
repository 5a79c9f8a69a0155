package realtimemodel_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	rm "github.com/inferflow/inferflow/internal/realtimemodel"
	"github.com/inferflow/inferflow/internal/realtimemodel/realtimetest"
)

const (
	testKey = "sk-test-SECRET-0123456789"
	bound   = 10 * time.Second
)

// fastReconnect keeps reconnect tests quick.
var fastReconnect = rm.ReconnectPolicy{Attempts: 3, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}

func newWS(t *testing.T, srv *realtimetest.Server, mod func(*rm.WSConfig)) *rm.WebSocket {
	t.Helper()
	cfg := rm.WSConfig{URL: srv.URL(), Model: "gpt-test", Voice: "marin", Instructions: "be brief",
		APIKey: testKey, Reconnect: fastReconnect}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	w, err := rm.NewWebSocket(ctx, cfg)
	if err != nil {
		t.Fatalf("NewWebSocket: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func newServer(t *testing.T, b realtimetest.Behavior) *realtimetest.Server {
	t.Helper()
	srv := realtimetest.NewServer(testKey, b)
	t.Cleanup(srv.Close)
	return srv
}

// next reads events until one of type typ (returning it and all read), or
// fails the test after bound.
func next(t *testing.T, w rm.Upstream, typ string) (rm.ServerEvent, []rm.ServerEvent) {
	t.Helper()
	var seen []rm.ServerEvent
	timeout := time.After(bound)
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("events closed waiting for %s (err %v; saw %v)", typ, w.Err(), types(seen))
			}
			seen = append(seen, ev)
			if ev.Type == typ {
				return ev, seen
			}
		case <-timeout:
			t.Fatalf("no %s within %v; saw %v", typ, bound, types(seen))
		}
	}
}

func types(evs []rm.ServerEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// tone is d of a 300 Hz tone at InputRate.
func tone(d time.Duration) []int16 {
	n := int(d.Seconds() * rm.InputRate)
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(6000 * math.Sin(2*math.Pi*300*float64(i)/rm.InputRate))
	}
	return pcm
}

// speak sends d of audio in 20 ms frames and commits it.
func speak(t *testing.T, w rm.Upstream, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	pcm := tone(d)
	for f := 0; f < len(pcm); f += 320 {
		if err := w.SendAudio(ctx, pcm[f:min(f+320, len(pcm))]); err != nil {
			t.Fatalf("SendAudio: %v", err)
		}
	}
	if err := w.CommitTurn(ctx); err != nil {
		t.Fatalf("CommitTurn: %v", err)
	}
}

// waitFor polls cond until it holds or bound passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestWebSocketFullTurn(t *testing.T) {
	srv := newServer(t, realtimetest.Behavior{Deltas: 5, Words: []string{"one", "two", "three"}})
	w := newWS(t, srv, func(c *rm.WSConfig) { c.Header = http.Header{"X-Trace": {"abc"}} })

	created, _ := next(t, w, rm.TypeSessionCreated)
	if m := created.Value.(*rm.SessionCreated).Session.Model; m != "gpt-test" {
		t.Errorf("model in URL = %q, want gpt-test (WSConfig.Model)", m)
	}
	upd, _ := next(t, w, rm.TypeSessionUpdated)
	if s := upd.Value.(*rm.SessionUpdated).Session; s.Audio.Input.TurnDetection != nil || s.Instructions != "be brief" || s.Audio.Output.Voice != "marin" {
		t.Errorf("session.updated = %+v, want turn detection off, instructions and voice", s)
	}

	speak(t, w, 300*time.Millisecond)
	next(t, w, rm.TypeInputAudioBufferCommitted)
	if err := w.CreateResponse(context.Background(), "r1"); err != nil {
		t.Fatal(err)
	}
	done, seen := next(t, w, rm.TypeResponseDone)

	var deltas, samples int
	var words []string
	var respID string
	rateLimits := false
	for _, ev := range seen {
		switch v := ev.Value.(type) {
		case *rm.ResponseCreated:
			respID = v.Response.ID
			if v.Response.Metadata[rm.MetadataTagKey] != "r1" {
				t.Errorf("response.created metadata = %v, want tag r1", v.Response.Metadata)
			}
		case *rm.ResponseOutputAudioDelta:
			deltas++
			samples += len(v.Audio)
			if v.ResponseID != respID {
				t.Errorf("delta of %q, want %q", v.ResponseID, respID)
			}
			if !bytes.Contains(ev.Raw, []byte(`"response.output_audio.delta"`)) {
				t.Errorf("Raw is not the event's JSON: %.80s", ev.Raw)
			}
		case *rm.ResponseOutputAudioTranscriptDelta:
			words = append(words, v.Delta)
		case *rm.RateLimitsUpdated:
			rateLimits = len(v.RateLimits) > 0
		}
	}
	d := done.Value.(*rm.ResponseDone).Response
	switch {
	case deltas != 5 || samples != 5*960:
		t.Errorf("got %d deltas, %d samples; want 5, 4800", deltas, samples)
	case !slices.Equal(words, []string{"one", "two", "three"}):
		t.Errorf("transcript %v", words)
	case !rateLimits:
		t.Error("no rate_limits.updated passed through")
	case d.ID != respID || d.Status != rm.StatusCompleted || d.Usage == nil || d.Usage.OutputTokens <= 0 || d.Usage.InputTokens <= 0:
		t.Errorf("response.done = %+v (usage %+v), want completed %s with usage", d, d.Usage, respID)
	}

	// What the service received.
	recv := srv.Received()
	if len(recv) == 0 || recv[0].Type != rm.TypeSessionUpdate {
		t.Fatalf("first client event %v, want session.update", srv.ReceivedTypes())
	}
	if !bytes.Contains(recv[0].Raw, []byte(`"turn_detection":null`)) {
		t.Errorf("session.update does not turn detection off: %s", recv[0].Raw)
	}
	var appended int
	for _, r := range recv {
		if a, ok := r.Event.(*rm.InputAudioBufferAppend); ok {
			pcm, err := rm.DecodeAudio(a.Audio)
			if err != nil {
				t.Fatalf("append is not base64 PCM16: %v", err)
			}
			appended += len(pcm)
		}
	}
	// 300 ms at 16 kHz is 7200 samples at 24 kHz, less the resampler's
	// few samples of delay.
	if want := 7200; appended > want || appended < want-64 {
		t.Errorf("appended %d samples at 24 kHz, want about %d", appended, want)
	}
	tail := slices.DeleteFunc(srv.ReceivedTypes(), func(s string) bool { return s == rm.TypeInputAudioBufferAppend })
	if want := []string{rm.TypeSessionUpdate, rm.TypeInputAudioBufferCommit, rm.TypeResponseCreate}; !slices.Equal(tail, want) {
		t.Errorf("client events %v, want %v (plus appends)", tail, want)
	}
	h := srv.Headers()[0]
	if h.Get("Authorization") != "Bearer "+testKey || h.Get("X-Trace") != "abc" {
		t.Errorf("handshake headers Authorization %q X-Trace %q", h.Get("Authorization"), h.Get("X-Trace"))
	}
	if st := w.Stats(); st.Connects != 1 || st.AudioSent != 4800 || st.AudioDropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestWebSocketCancel(t *testing.T) {
	srv := newServer(t, realtimetest.Behavior{Deltas: 50, DeltaInterval: 20 * time.Millisecond})
	w := newWS(t, srv, nil)
	speak(t, w, 200*time.Millisecond)
	if err := w.CreateResponse(context.Background(), "r1"); err != nil {
		t.Fatal(err)
	}
	next(t, w, rm.TypeResponseOutputAudioDelta)
	if err := w.CancelResponse(context.Background()); err != nil {
		t.Fatal(err)
	}
	done, seen := next(t, w, rm.TypeResponseDone)
	if s := done.Value.(*rm.ResponseDone).Response.Status; s != rm.StatusCancelled {
		t.Errorf("status %q, want cancelled", s)
	}
	if n := len(seen); n > 10 {
		t.Errorf("%d events between cancel and response.done; the stream did not stop", n)
	}
	next(t, w, rm.TypeOutputAudioBufferCleared)
	types := srv.ReceivedTypes()
	i := slices.Index(types, rm.TypeResponseCancel)
	if i < 0 || i+1 >= len(types) || types[i+1] != rm.TypeOutputAudioBufferClear {
		t.Errorf("client events %v, want response.cancel then output_audio_buffer.clear", types)
	}
	// Nothing of the cancelled response after its end.
	select {
	case ev := <-w.Events():
		t.Errorf("event after the cancelled response ended: %s", ev.Type)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestWebSocketErrorEvents(t *testing.T) {
	rateLimited := &rm.ErrorDetail{Type: "rate_limit_error", Code: "rate_limit_exceeded", Message: "slow down"}
	tests := []struct {
		name     string
		beh      realtimetest.Behavior
		provoke  func(t *testing.T, srv *realtimetest.Server, w *rm.WebSocket)
		wantType string
		wantCode string
	}{
		{"response.create refused", realtimetest.Behavior{CreateError: rateLimited},
			func(t *testing.T, _ *realtimetest.Server, w *rm.WebSocket) {
				speak(t, w, 200*time.Millisecond)
				if err := w.CreateResponse(context.Background(), "x"); err != nil {
					t.Fatal(err)
				}
			}, rm.TypeError, "rate_limit_exceeded"},
		{"commit of too little audio", realtimetest.Behavior{},
			func(t *testing.T, _ *realtimetest.Server, w *rm.WebSocket) { speak(t, w, 40*time.Millisecond) },
			rm.TypeError, rm.CodeCommitEmpty},
		{"cancel with nothing active", realtimetest.Behavior{},
			func(t *testing.T, _ *realtimetest.Server, w *rm.WebSocket) {
				if err := w.CancelResponse(context.Background()); err != nil {
					t.Fatal(err)
				}
			}, rm.TypeError, rm.CodeCancelNotActive},
		{"server error pushed", realtimetest.Behavior{},
			func(t *testing.T, srv *realtimetest.Server, _ *rm.WebSocket) {
				if err := srv.Send(&rm.ErrorEvent{Error: rm.ErrorDetail{Type: "server_error", Code: "internal", Message: "oops"}}); err != nil {
					t.Fatal(err)
				}
			}, rm.TypeError, "internal"},
		{"rate limits pushed", realtimetest.Behavior{},
			func(t *testing.T, srv *realtimetest.Server, _ *rm.WebSocket) {
				if err := srv.Send(&rm.RateLimitsUpdated{RateLimits: []rm.RateLimit{{Name: "tokens", Limit: 10, Remaining: 0}}}); err != nil {
					t.Fatal(err)
				}
			}, rm.TypeRateLimitsUpdated, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.beh)
			w := newWS(t, srv, nil)
			next(t, w, rm.TypeSessionUpdated)
			tc.provoke(t, srv, w)
			ev, _ := next(t, w, tc.wantType)
			if e, ok := ev.Value.(*rm.ErrorEvent); ok && e.Error.Code != tc.wantCode {
				t.Errorf("error code %q, want %q", e.Error.Code, tc.wantCode)
			}
			if w.Err() != nil {
				t.Errorf("an error event ended the upstream: %v", w.Err())
			}
			if tc.name == "response.create refused" {
				// The refused create is no longer pending: a drop now
				// must not invent a failed response.
				srv.Drop()
				waitFor(t, "reconnect", func() bool { return srv.Connections() == 2 && w.Connected() })
				if st := w.Stats(); st.FailedResponses != 0 {
					t.Errorf("a refused response.create was failed on drop: %+v", st)
				}
			}
		})
	}
}

func TestWebSocketSlowStream(t *testing.T) {
	const interval = 60 * time.Millisecond
	srv := newServer(t, realtimetest.Behavior{Deltas: 6, DeltaInterval: interval})
	w := newWS(t, srv, nil)
	speak(t, w, 200*time.Millisecond)
	if err := w.CreateResponse(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var at []time.Duration
	for {
		ev, _ := next(t, w, rm.TypeResponseOutputAudioDelta)
		_ = ev
		at = append(at, time.Since(start))
		if len(at) == 6 {
			break
		}
	}
	done, _ := next(t, w, rm.TypeResponseDone)
	if s := done.Value.(*rm.ResponseDone).Response.Status; s != rm.StatusCompleted {
		t.Errorf("slow response ended %q", s)
	}
	if at[5] < 5*interval {
		t.Errorf("six deltas in %v: the stream was not slow (%v)", at[5], at)
	}
	if w.Err() != nil || w.Stats().Drops != 0 {
		t.Errorf("slow stream ended or dropped the connection: %v %+v", w.Err(), w.Stats())
	}
}

func TestWebSocketDropMidResponse(t *testing.T) {
	tests := []struct {
		name      string
		beh       realtimetest.Behavior
		wantDelta int
		wantID    func(createdID string) bool
	}{
		{"after two deltas", realtimetest.Behavior{Deltas: 10, DropAfterDeltas: 2}, 2,
			func(id string) bool { return id != "" }},
		{"before response.created", realtimetest.Behavior{DropOnCreate: true}, 0,
			func(string) bool { return true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.beh)
			w := newWS(t, srv, nil)
			speak(t, w, 200*time.Millisecond)
			if err := w.CreateResponse(context.Background(), "r7"); err != nil {
				t.Fatal(err)
			}
			done, seen := next(t, w, rm.TypeResponseDone)
			var createdID string
			deltas := 0
			for _, ev := range seen {
				switch v := ev.Value.(type) {
				case *rm.ResponseCreated:
					createdID = v.Response.ID
				case *rm.ResponseOutputAudioDelta:
					deltas++
				}
			}
			r := done.Value.(*rm.ResponseDone).Response
			if r.Status != rm.StatusFailed || r.StatusDetails == nil || r.StatusDetails.Error == nil ||
				r.StatusDetails.Error.Code != rm.CodeUpstreamDisconnected {
				t.Errorf("response.done = %+v, want failed with %s", r, rm.CodeUpstreamDisconnected)
			}
			if (createdID != "" && r.ID != createdID) || r.ID == "" || r.Metadata[rm.MetadataTagKey] != "r7" {
				t.Errorf("failed response id %q tag %v; created %q, tag r7", r.ID, r.Metadata, createdID)
			}
			if deltas != tc.wantDelta {
				t.Errorf("%d deltas before the drop, want %d", deltas, tc.wantDelta)
			}
			if !bytes.Contains(done.Raw, []byte(`"status":"failed"`)) {
				t.Errorf("raw of the synthesized event: %s", done.Raw)
			}

			// Reconnected: session.update again, and a second turn works.
			srv.SetBehavior(realtimetest.Behavior{Deltas: 3})
			next(t, w, rm.TypeSessionUpdated)
			var again bool
			for _, rc := range srv.Received() {
				if rc.Conn == 2 && rc.Type == rm.TypeSessionUpdate {
					again = true
				}
			}
			if !again {
				t.Errorf("no session.update on the new connection: %v", srv.Received())
			}
			speak(t, w, 200*time.Millisecond)
			if err := w.CreateResponse(context.Background(), "r8"); err != nil {
				t.Fatal(err)
			}
			done, _ = next(t, w, rm.TypeResponseDone)
			if r := done.Value.(*rm.ResponseDone).Response; r.Status != rm.StatusCompleted || r.Metadata[rm.MetadataTagKey] != "r8" {
				t.Errorf("second turn after reconnect: %+v", r)
			}
			if st := w.Stats(); st.Connects != 2 || st.Drops != 1 || st.FailedResponses != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestWebSocketIdleDropDropsAudioAndReconnects(t *testing.T) {
	srv := newServer(t, realtimetest.Behavior{})
	w := newWS(t, srv, func(c *rm.WSConfig) {
		c.Reconnect = rm.ReconnectPolicy{Attempts: 100, MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond}
	})
	next(t, w, rm.TypeSessionUpdated)
	srv.Refuse(http.StatusServiceUnavailable)
	srv.Drop()
	waitFor(t, "disconnect", func() bool { return !w.Connected() })
	if err := w.SendAudio(context.Background(), tone(20*time.Millisecond)); err != nil {
		t.Fatalf("SendAudio while disconnected: %v", err)
	}
	if err := w.CreateResponse(context.Background(), "x"); !errors.Is(err, rm.ErrDisconnected) {
		t.Errorf("CreateResponse while disconnected = %v, want ErrDisconnected", err)
	}
	srv.Refuse(0)
	next(t, w, rm.TypeSessionUpdated)
	st := w.Stats()
	if st.AudioDropped != 320 || st.Drops != 1 || st.FailedResponses != 0 || st.Connects != 2 {
		t.Errorf("stats %+v, want 320 samples dropped, one drop, no failed response", st)
	}
}

func TestWebSocketReconnectExhausted(t *testing.T) {
	srv := newServer(t, realtimetest.Behavior{Deltas: 50, DeltaInterval: 10 * time.Millisecond})
	w := newWS(t, srv, nil)
	speak(t, w, 200*time.Millisecond)
	if err := w.CreateResponse(context.Background(), "r1"); err != nil {
		t.Fatal(err)
	}
	next(t, w, rm.TypeResponseOutputAudioDelta)
	srv.Refuse(http.StatusServiceUnavailable)
	srv.Drop()
	start := time.Now()
	done, _ := next(t, w, rm.TypeResponseDone)
	if s := done.Value.(*rm.ResponseDone).Response.Status; s != rm.StatusFailed {
		t.Errorf("cut response ended %q, want failed", s)
	}
	for range w.Events() { // drains until closed; next's bound is not needed here
		if time.Since(start) > bound {
			t.Fatal("events not closed")
		}
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("ended after %v", elapsed)
	}
	err := w.Err()
	if !errors.Is(err, rm.ErrUpstreamFailed) || !strings.Contains(err.Error(), "3 connection attempts") {
		t.Errorf("Err() = %v, want ErrUpstreamFailed after 3 attempts", err)
	}
	if err := w.CommitTurn(context.Background()); !errors.Is(err, rm.ErrUpstreamFailed) {
		t.Errorf("CommitTurn after the end = %v", err)
	}
	if n := len(srv.Headers()); n != 4 {
		t.Errorf("%d handshakes, want 1 + 3 attempts", n)
	}
}

func TestWebSocketReconnectDisabled(t *testing.T) {
	srv := newServer(t, realtimetest.Behavior{})
	w := newWS(t, srv, func(c *rm.WSConfig) { c.Reconnect.Disabled = true })
	next(t, w, rm.TypeSessionUpdated)
	srv.Drop()
	for range w.Events() {
	}
	if err := w.Err(); !errors.Is(err, rm.ErrUpstreamFailed) || !strings.Contains(err.Error(), "connection lost") {
		t.Errorf("Err() = %v", err)
	}
}

func TestWebSocketUnauthorized(t *testing.T) {
	srv := newServer(t, realtimetest.Behavior{})
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	start := time.Now()
	_, err := rm.NewWebSocket(ctx, rm.WSConfig{URL: srv.URL(), APIKey: "sk-wrong-KEY-999", Reconnect: fastReconnect})
	if !errors.Is(err, rm.ErrUnauthorized) || !errors.Is(err, rm.ErrUpstreamFailed) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "sk-wrong") {
		t.Errorf("error %q should say 401 and not quote the key", err)
	}
	if n := len(srv.Headers()); n != 1 || time.Since(start) > 3*time.Second {
		t.Errorf("%d handshakes in %v: a refused key must not be retried", n, time.Since(start))
	}
}

func TestWebSocketUnreachable(t *testing.T) {
	srv := realtimetest.NewServer("", realtimetest.Behavior{})
	url := srv.URL()
	srv.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	_, err := rm.NewWebSocket(ctx, rm.WSConfig{URL: url + "?api-key=QUERYSECRET", Reconnect: fastReconnect})
	if !errors.Is(err, rm.ErrUpstreamFailed) || errors.Is(err, rm.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUpstreamFailed", err)
	}
	if strings.Contains(err.Error(), "QUERYSECRET") {
		t.Errorf("error quotes a secret of the URL: %v", err)
	}
}

func TestWebSocketSlowConsumer(t *testing.T) {
	srv := newServer(t, realtimetest.Behavior{Deltas: 40})
	w := newWS(t, srv, func(c *rm.WSConfig) { c.EventBuffer = 2; c.SlowConsumerTimeout = 30 * time.Millisecond })
	speak(t, w, 200*time.Millisecond)
	if err := w.CreateResponse(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the upstream to end", func() bool { return w.Err() != nil })
	if !errors.Is(w.Err(), rm.ErrSlowConsumer) {
		t.Errorf("Err() = %v, want ErrSlowConsumer", w.Err())
	}
	for range w.Events() {
	}
}

func TestWebSocketCloseDuringBackoff(t *testing.T) {
	srv := newServer(t, realtimetest.Behavior{})
	w := newWS(t, srv, func(c *rm.WSConfig) {
		c.Reconnect = rm.ReconnectPolicy{Attempts: 100, MinBackoff: time.Second, MaxBackoff: time.Minute}
	})
	next(t, w, rm.TypeSessionUpdated)
	srv.Refuse(http.StatusServiceUnavailable)
	srv.Drop()
	waitFor(t, "disconnect", func() bool { return !w.Connected() })
	start := time.Now()
	_ = w.Close()
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Close took %v during a backoff", d)
	}
	if !errors.Is(w.Err(), rm.ErrClosed) {
		t.Errorf("Err() = %v, want ErrClosed", w.Err())
	}
	if _, ok := <-w.Events(); ok {
		// Buffered events may remain; drain and check it closes.
		for range w.Events() {
		}
	}
}

func TestWebSocketInvalidInput(t *testing.T) {
	srv := newServer(t, realtimetest.Behavior{})
	w := newWS(t, srv, nil)
	ctx := context.Background()
	if err := w.SendAudio(ctx, make([]int16, rm.MaxAppendSamples+1)); !errors.Is(err, rm.ErrInvalidInput) {
		t.Errorf("oversized SendAudio = %v", err)
	}
	if err := w.CreateResponse(ctx, strings.Repeat("x", rm.MaxTagBytes+1)); !errors.Is(err, rm.ErrInvalidInput) {
		t.Errorf("oversized tag = %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.CommitTurn(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("CommitTurn with a done ctx = %v", err)
	}
}

func TestWSConfigValidate(t *testing.T) {
	ok := rm.WSConfig{URL: "wss://api.example.com/v1/realtime"}
	tests := []struct {
		name  string
		mod   func(*rm.WSConfig)
		field string // "" for valid
	}{
		{"valid", func(*rm.WSConfig) {}, ""},
		{"valid with everything", func(c *rm.WSConfig) {
			c.Model, c.Voice, c.APIKey = "m", "v", "k"
			c.Header = http.Header{"X-A": {"b"}}
			c.Reconnect = rm.ReconnectPolicy{Attempts: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Second}
		}, ""},
		{"no URL", func(c *rm.WSConfig) { c.URL = "" }, "URL"},
		{"http URL", func(c *rm.WSConfig) { c.URL = "https://api.example.com/v1/realtime" }, "URL"},
		{"no host", func(c *rm.WSConfig) { c.URL = "wss:///v1" }, "URL"},
		{"long URL", func(c *rm.WSConfig) { c.URL += "?" + strings.Repeat("a", 3000) }, "URL"},
		{"model disagrees", func(c *rm.WSConfig) { c.URL += "?model=a"; c.Model = "b" }, "Model"},
		{"bad voice", func(c *rm.WSConfig) { c.Voice = "\xff" }, "Voice"},
		{"key with newline", func(c *rm.WSConfig) { c.APIKey = "k\r\nX-Evil: 1" }, "APIKey"},
		{"key with space", func(c *rm.WSConfig) { c.APIKey = "a b" }, "APIKey"},
		{"two authorizations", func(c *rm.WSConfig) { c.APIKey = "k"; c.Header = http.Header{"Authorization": {"x"}} }, "Header"},
		{"handshake header", func(c *rm.WSConfig) { c.Header = http.Header{"Sec-WebSocket-Key": {"x"}} }, "Header"},
		{"header injection", func(c *rm.WSConfig) { c.Header = http.Header{"X-A": {"a\nb"}} }, "Header"},
		{"dial timeout", func(c *rm.WSConfig) { c.DialTimeout = time.Millisecond }, "DialTimeout"},
		{"write timeout", func(c *rm.WSConfig) { c.WriteTimeout = time.Hour }, "WriteTimeout"},
		{"message size", func(c *rm.WSConfig) { c.MaxMessageBytes = 100 }, "MaxMessageBytes"},
		{"event buffer", func(c *rm.WSConfig) { c.EventBuffer = 5000 }, "EventBuffer"},
		{"slow consumer", func(c *rm.WSConfig) { c.SlowConsumerTimeout = -1 }, "SlowConsumerTimeout"},
		{"attempts", func(c *rm.WSConfig) { c.Reconnect.Attempts = 101 }, "Reconnect.Attempts"},
		{"min backoff", func(c *rm.WSConfig) { c.Reconnect.MinBackoff = -time.Second }, "Reconnect.MinBackoff"},
		{"max below min", func(c *rm.WSConfig) {
			c.Reconnect.MinBackoff, c.Reconnect.MaxBackoff = time.Second, time.Millisecond
		}, "Reconnect.MaxBackoff"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			// A valid config fails only at dialing (nothing listens), so
			// check validation through a cancelled ctx.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := rm.NewWebSocket(ctx, cfg)
			if tc.field == "" {
				if errors.Is(err, rm.ErrInvalidConfig) {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if !errors.Is(err, rm.ErrInvalidConfig) || !strings.Contains(err.Error(), "WSConfig."+tc.field+" ") {
				t.Errorf("err = %v, want ErrInvalidConfig naming WSConfig.%s", err, tc.field)
			}
		})
	}
}

func TestWSConfigRedacts(t *testing.T) {
	cfg := rm.WSConfig{URL: "wss://u:pw-SECRET@api.example.com/v1/realtime?model=m&api-key=QSECRET",
		APIKey: testKey, Header: http.Header{"X-Org": {"HSECRET-value"}}}
	var sb strings.Builder
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("cfg", "config", cfg)
	core, logs := observer.New(zapcore.DebugLevel)
	zap.New(core).Info("cfg", zap.Object("config", cfg), zap.Stringer("str", cfg))
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		//lint:ignore S1025 the test checks what each formatting verb prints
		"%s": fmt.Sprintf("%s", cfg), "slog": sb.String(), "zap": fmt.Sprint(logs.All()[0].ContextMap()),
	}
	for name, out := range outputs {
		for _, secret := range []string{"SECRET-0123", "pw-SECRET", "QSECRET", "HSECRET"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s output has %q: %s", name, secret, out)
			}
		}
		if !strings.Contains(out, "api.example.com") {
			t.Errorf("%s output lost the host: %s", name, out)
		}
	}
}

// TestWebSocketKeyNeverLogged runs a lifecycle with drops, a refused
// reconnect and an unreachable service, and checks no log line or error
// carries the key.
func TestWebSocketKeyNeverLogged(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	srv := newServer(t, realtimetest.Behavior{Deltas: 10, DropAfterDeltas: 1})
	w := newWS(t, srv, func(c *rm.WSConfig) { c.Logger = zap.New(core) })
	speak(t, w, 200*time.Millisecond)
	if err := w.CreateResponse(context.Background(), "r1"); err != nil {
		t.Fatal(err)
	}
	next(t, w, rm.TypeResponseDone)
	next(t, w, rm.TypeSessionUpdated)
	srv.Refuse(http.StatusUnauthorized)
	srv.Drop()
	for range w.Events() {
	}
	texts := []string{w.Err().Error()}
	for _, e := range logs.All() {
		texts = append(texts, e.Message+" "+fmt.Sprint(e.ContextMap()))
	}
	if len(texts) < 4 {
		t.Fatalf("expected connection logs, got %v", texts)
	}
	for _, s := range texts {
		if strings.Contains(s, testKey) || strings.Contains(s, "SECRET") {
			t.Errorf("key leaked: %s", s)
		}
	}
	if !errors.Is(w.Err(), rm.ErrUnauthorized) {
		t.Errorf("Err() = %v, want ErrUnauthorized from the refused reconnect", w.Err())
	}
}

// TestWebSocketConcurrentUse sends audio from one goroutine while another
// commits, creates, cancels, and the service drops the connection: every
// response still ends exactly once (run with -race).
func TestWebSocketConcurrentUse(t *testing.T) {
	srv := newServer(t, realtimetest.Behavior{Deltas: 20, DeltaInterval: 2 * time.Millisecond})
	w := newWS(t, srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	audioDone := make(chan struct{})
	go func() {
		defer close(audioDone)
		frame := tone(20 * time.Millisecond)
		for ctx.Err() == nil {
			if err := w.SendAudio(ctx, frame); err != nil && ctx.Err() == nil {
				t.Errorf("SendAudio: %v", err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	ended := map[string]int{}
	for i := range 6 {
		time.Sleep(30 * time.Millisecond)
		if err := w.CommitTurn(ctx); err != nil && !errors.Is(err, rm.ErrDisconnected) {
			t.Fatal(err)
		}
		if err := w.CreateResponse(ctx, fmt.Sprint("r", i)); err != nil {
			if errors.Is(err, rm.ErrDisconnected) {
				continue
			}
			t.Fatal(err)
		}
		switch i % 3 {
		case 1:
			_ = w.CancelResponse(ctx)
		case 2:
			srv.Drop()
		}
		for {
			ev, _ := next(t, w, rm.TypeResponseDone)
			ended[ev.ResponseID()]++
			if ev.Value.(*rm.ResponseDone).Response.Metadata[rm.MetadataTagKey] == fmt.Sprint("r", i) {
				break
			}
		}
	}
	cancel()
	<-audioDone
	_ = w.Close()
	for ev := range w.Events() {
		if ev.Type == rm.TypeResponseDone {
			ended[ev.ResponseID()]++
		}
	}
	for id, n := range ended {
		if n != 1 {
			t.Errorf("response %s ended %d times", id, n)
		}
	}
	if st := w.Stats(); st.Drops != 2 || st.AudioSent == 0 {
		t.Errorf("stats %+v, want 2 drops and audio sent", st)
	}
}
