package openaitest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
)

// A vision call that is rate limited, then a judge that answers late enough
// for the caller's deadline to cut it off.
func ExampleServer() {
	srv := openaitest.New()
	defer srv.Close()
	srv.ForVision().Enqueue(openaitest.RateLimited("2"), openaitest.OK(1200, 0.9))
	srv.ForJudge().SetDefault(openaitest.Delay(time.Second))

	set, err := provider.New(srv.Config())
	if err != nil {
		panic(err)
	}
	img := provider.Image{Data: png1x1}
	ctx := context.Background()

	_, err = set.Vision.Vision(ctx, provider.VisionRequest{Image: img})
	fmt.Println(provider.CodeOf(err), provider.RetryAfterOf(err))

	out, _ := set.Vision.Vision(ctx, provider.VisionRequest{Image: img})
	fmt.Println(out.Value, out.Confidence, out.ModelID)

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = set.Judge.Judge(short, provider.JudgeRequest{Valuations: []provider.Valuation{{Value: 1200, Confidence: 0.9}}})
	fmt.Println(provider.CodeOf(err))

	_ = srv.WaitAborted(ctx, 1)
	fmt.Println(srv.Requests(), "requests,", srv.Aborted(), "aborted")
	// Output:
	// RATE_LIMITED 2s
	// 1200 0.9 fake-vision
	// TIMEOUT
	// 3 requests, 1 aborted
}
