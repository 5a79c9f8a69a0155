package realtimemodel_test

import (
	"context"
	"fmt"
	"os"

	"github.com/inferflow/inferflow/internal/realtimemodel"
	"github.com/inferflow/inferflow/internal/realtimemodel/realtimetest"
)

// A turn against a realtime service over WebSocket; here the fake service
// of realtimetest stands in for, e.g.,
//
//	realtimemodel.WSConfig{
//		URL:    "wss://api.openai.com/v1/realtime?model=gpt-realtime",
//		Voice:  "marin",
//		APIKey: os.Getenv("OPENAI_API_KEY"),
//	}
func ExampleNewWebSocket() {
	srv := realtimetest.NewServer("sk-example", realtimetest.Behavior{Deltas: 3})
	defer srv.Close()

	ctx := context.Background()
	up, err := realtimemodel.NewWebSocket(ctx, realtimemodel.WSConfig{
		URL:    srv.URL(),
		Model:  "gpt-realtime",
		Voice:  "marin",
		APIKey: "sk-example",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer up.Close()

	frame := make([]int16, 320) // 20 ms at 16 kHz
	for range 25 {              // 500 ms of admitted audio
		_ = up.SendAudio(ctx, frame)
	}
	_ = up.CommitTurn(ctx)
	_ = up.CreateResponse(ctx, "r1")
	for ev := range up.Events() {
		switch v := ev.Value.(type) {
		case *realtimemodel.ResponseOutputAudioTranscriptDelta:
			fmt.Println("transcript:", v.Delta)
		case *realtimemodel.ResponseDone:
			fmt.Println("done:", v.Response.Status, "tag", v.Response.Metadata[realtimemodel.MetadataTagKey])
			return
		}
	}
	// Output:
	// transcript: hello
	// transcript: from
	// transcript: the
	// done: completed tag r1
}
