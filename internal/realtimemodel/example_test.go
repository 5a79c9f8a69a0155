package realtimemodel_test

import (
	"context"
	"fmt"

	"github.com/inferflow/inferflow/internal/realtimemodel"
)

// A session's turn against the simulated model: admitted audio, commit,
// (billing hold), response, then events until response.done. In a session
// every ev.Raw also goes to gate.HandleServerEventJSON.
func ExampleNewSimulated() {
	ctx := context.Background()
	up, err := realtimemodel.NewSimulated(realtimemodel.SimConfig{Fast: true})
	if err != nil {
		panic(err)
	}
	defer up.Close()

	frame := make([]int16, 320) // 20 ms at 16 kHz
	for i := range frame {
		frame[i] = int16((i % 40) * 200)
	}
	for range 50 { // 1 s of admitted audio
		if err := up.SendAudio(ctx, frame); err != nil {
			panic(err)
		}
	}
	_ = up.CommitTurn(ctx)
	_ = up.CreateResponse(ctx, "hold-1")

	samples := 0
	for ev := range up.Events() {
		switch v := ev.Value.(type) {
		case *realtimemodel.ResponseOutputAudioDelta:
			samples += len(v.Audio)
			continue
		case *realtimemodel.ResponseOutputAudioTranscriptDelta:
			continue
		case *realtimemodel.ResponseDone:
			u := v.Response.Usage
			fmt.Println(ev.Type, v.Response.ID, v.Response.Status, v.Response.Metadata[realtimemodel.MetadataTagKey])
			fmt.Printf("reply %d ms; tokens in %d out %d total %d\n",
				samples*1000/realtimemodel.ServiceRate, u.InputTokens, u.OutputTokens, u.TotalTokens)
			return
		}
		fmt.Println(ev.Type)
	}
	// Output:
	// session.created
	// session.updated
	// input_audio_buffer.committed
	// response.created
	// rate_limits.updated
	// response.output_audio.done
	// response.done resp_1 completed hold-1
	// reply 1300 ms; tokens in 10 out 26 total 36
}
