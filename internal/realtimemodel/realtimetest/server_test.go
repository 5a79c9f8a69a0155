package realtimetest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/inferflow/inferflow/internal/realtimemodel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestServerRaw drives the fake with a bare WebSocket client, so its side
// of the protocol is checked apart from the client under test.
func TestServerRaw(t *testing.T) {
	srv := NewServer("key", Behavior{Deltas: 2})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer client.CloseIdleConnections()

	tests := []struct {
		name   string
		header http.Header
		status int
	}{
		{"no key", nil, http.StatusUnauthorized},
		{"wrong key", http.Header{"Authorization": {"Bearer nope"}}, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		_, resp, err := websocket.Dial(ctx, srv.URL(), &websocket.DialOptions{HTTPClient: client, HTTPHeader: tc.header})
		if err == nil || resp == nil || resp.StatusCode != tc.status {
			t.Errorf("%s: err %v, resp %v; want HTTP %d", tc.name, err, resp, tc.status)
		}
	}

	c, _, err := websocket.Dial(ctx, srv.URL()+"?model=m1", &websocket.DialOptions{HTTPClient: client,
		HTTPHeader: http.Header{"Authorization": {"Bearer key"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	read := func() realtimemodel.ServerEvent {
		t.Helper()
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := realtimemodel.ParseServerEvent(b)
		if err != nil {
			t.Fatalf("the fake sent an invalid event: %v: %s", err, b)
		}
		return ev
	}
	send := func(s string) {
		t.Helper()
		if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if ev := read(); ev.Type != realtimemodel.TypeSessionCreated || ev.Value.(*realtimemodel.SessionCreated).Session.Model != "m1" {
		t.Fatalf("first event %s %+v, want session.created for model m1", ev.Type, ev.Value)
	}
	send(`{"type":"no.such.event"}`)
	if ev := read(); ev.Type != realtimemodel.TypeError {
		t.Errorf("unknown client event answered with %s, want error", ev.Type)
	}
	send(`{"type":"input_audio_buffer.append","audio":"AAE="}`) // one sample, then too little to commit
	send(`{"type":"input_audio_buffer.commit","event_id":"c1"}`)
	if ev := read(); ev.Type != realtimemodel.TypeError || ev.Value.(*realtimemodel.ErrorEvent).Error.EventID != "c1" ||
		ev.Value.(*realtimemodel.ErrorEvent).Error.Code != realtimemodel.CodeCommitEmpty {
		t.Errorf("commit of 1 sample answered %s %+v", ev.Type, ev.Value)
	}
	send(`{"type":"input_audio_buffer.append","audio":"` + realtimemodel.EncodeAudio(make([]int16, 4800)) + `"}`)
	send(`{"type":"input_audio_buffer.commit"}`)
	send(`{"type":"response.create"}`)
	var got []string
	for len(got) == 0 || got[len(got)-1] != realtimemodel.TypeResponseDone {
		got = append(got, read().Type)
	}
	want := []string{realtimemodel.TypeInputAudioBufferCommitted, realtimemodel.TypeResponseCreated, realtimemodel.TypeRateLimitsUpdated,
		realtimemodel.TypeResponseOutputAudioTranscriptDelta, realtimemodel.TypeResponseOutputAudioDelta,
		realtimemodel.TypeResponseOutputAudioTranscriptDelta, realtimemodel.TypeResponseOutputAudioDelta,
		realtimemodel.TypeResponseOutputAudioDone, realtimemodel.TypeResponseDone}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	if n := len(srv.Received()); n != 6 || srv.Received()[0].Event != nil || srv.Connections() != 1 {
		t.Errorf("recorded %d events (%v) on %d connections", n, srv.ReceivedTypes(), srv.Connections())
	}
}
