package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/inferflow/inferflow/workflows"
)

// ensureSearchAttributes registers the project's search attributes when the
// server lacks them (the dev server gets them from temporal-dev.yaml). A
// workflow that upserts an unknown attribute would fail its tasks forever, so
// the worker refuses to start when they are known to be missing. When they
// cannot even be listed — a Temporal Cloud API key or a self-hosted role
// without operator rights — the worker cannot tell, so it warns, naming
// them, and starts: the namespace's owner has usually added them.
func ensureSearchAttributes(ctx context.Context, ops operatorservice.OperatorServiceClient, namespace string, warn func(msg string, err error)) error {
	list, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("list search attributes: %w", err)
		}
		var names []string
		for _, key := range workflows.SearchAttributes {
			names = append(names, key.GetName())
		}
		warn(fmt.Sprintf("cannot list the namespace's search attributes; starting anyway: the workflows need %v (Keyword) in namespace %s "+
			"(Temporal Cloud: in the namespace's settings or with tcld; self-hosted: "+
			"`temporal operator search-attribute create --name NAME --type Keyword`)", names, namespace), err)
		return nil
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, key := range workflows.SearchAttributes {
		if _, ok := list.GetCustomAttributes()[key.GetName()]; !ok {
			missing[key.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	if err != nil {
		return fmt.Errorf("search attributes %v are missing and could not be added (%w); add them with "+
			"`temporal operator search-attribute create --name NAME --type Keyword`", keys(missing), err)
	}
	return nil
}

func keys(m map[string]enumspb.IndexedValueType) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// ensureExpirySchedule creates the schedule that sweeps expired holds, once;
// an existing schedule is left as the operator configured it.
func ensureExpirySchedule(ctx context.Context, c client.Client, taskQueue string, every time.Duration) error {
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:   workflows.ExpireHoldsScheduleID,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
		Action: &client.ScheduleWorkflowAction{
			ID:        workflows.ExpireHoldsScheduleID,
			Workflow:  workflows.ExpireHolds,
			TaskQueue: taskQueue,
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	})
	var exists *serviceerror.AlreadyExists
	if err == nil || errors.As(err, &exists) || errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return nil
	}
	return fmt.Errorf("create schedule %s: %w", workflows.ExpireHoldsScheduleID, err)
}
