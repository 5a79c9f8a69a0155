package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/wire"
)

// ExpireHoldsScheduleID is the Temporal schedule the worker creates to run
// ExpireHolds (the sweeper, for holds past their TTL).
const ExpireHoldsScheduleID = "inferflow-expire-holds"

// ExpireHolds expires reservations past their TTL, returning their credits
// (run by the schedule ExpireHoldsScheduleID).
func ExpireHolds(ctx workflow.Context) (int, error) {
	var n int
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, billingActivityOptions()), wire.ActivityExpireHolds).Get(ctx, &n)
	if n > 0 {
		workflow.GetLogger(ctx).Info("Expired holds", "evt", "HOLDS_EXPIRED", "count", n)
		workflow.GetMetricsHandler(ctx).Counter("billing.hold.expired").Inc(int64(n))
	}
	return n, err
}
