package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
)

// HeartbeatEvery is how often a model call in flight heartbeats. The server
// answers a heartbeat with "cancel requested" and the SDK then cancels the
// activity context, which aborts the HTTP request: a cancellation (early
// cancel, or the workflow cancelled) reaches the call within this interval
// plus one round trip, well inside 250 ms. The SDK sends at most one
// heartbeat per throttle interval (0.8 × the heartbeat timeout, 4 s here),
// so workers cap that at HeartbeatEvery (registry.WorkerOptions). The price
// is ten heartbeat RPCs a second per running call.
const HeartbeatEvery = 100 * time.Millisecond

// heartbeatWhile heartbeats every HeartbeatEvery from a goroutine until the
// returned stop is called. The first heartbeat waits one interval, so fast
// calls (the offline provider answers in microseconds) never heartbeat.
func heartbeatWhile(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
