package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/inferflow/inferflow/wire"
)

// heartbeatWhile heartbeats every wire.HeartbeatEvery: the server answers a
// heartbeat with "cancel requested" and the SDK cancels the activity context,
// which aborts the HTTP request. It heartbeats from a goroutine until the returned stop is
// called. The first heartbeat waits one interval, so fast calls (the offline
// provider answers in microseconds) never heartbeat at all.
func heartbeatWhile(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(wire.HeartbeatEvery)
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
