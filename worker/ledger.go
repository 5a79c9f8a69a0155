package main

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/inferflow/inferflow/internal/ledger"
)

// openLedger opens the ledger, retrying for up to wait while its database
// cannot be reached or is locked (ledger.Unreachable): a worker started
// during a database restart, or by a service manager right after one, waits
// for it instead of exiting. Each failed attempt is logged with its cause.
func openLedger(ctx context.Context, lc ledger.Config, wait time.Duration, z *zap.Logger) (ledger.Ledger, error) {
	giveUp := time.Now().Add(wait)
	delay := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		l, err := ledger.Open(ctx, lc)
		if err == nil || !ledger.Unreachable(err) || time.Now().Add(delay).After(giveUp) {
			return l, err
		}
		z.Warn("ledger unreachable; retrying", zap.Int("attempt", attempt), zap.Duration("retryIn", delay),
			zap.Duration("waitingUpTo", wait), zap.Error(err))
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		delay = min(2*delay, 5*time.Second)
	}
}
