package inferflow

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
)

// DuplicateJobError reports a job id that already has an execution, running
// or closed: wire.CodeDuplicateJob. Nothing was started or charged.
type DuplicateJobError struct {
	JobID string
	RunID string // the existing run
}

func (e *DuplicateJobError) Error() string {
	return fmt.Sprintf("%s: job %s already has an execution (run %s)", wire.CodeDuplicateJob, e.JobID, e.RunID)
}

// StartInference starts one billed job. A job id runs at most once: a second
// start, while the first runs or after it closed, is a *DuplicateJobError.
func (c *Client) StartInference(ctx context.Context, in wire.InferenceInput) (client.WorkflowRun, error) {
	if err := wire.ValidateID("jobId", in.JobID); err != nil {
		return nil, &ValidationError{Err: err}
	}
	if err := c.Limits.CheckPromptSize(in.Payload.Prompt); err != nil {
		return nil, err
	}
	run, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       wire.InferenceWorkflowID(in.JobID),
		TaskQueue:                                c.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		EnableEagerStart:                         true,
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.JobIDKey.ValueSet(in.JobID),
			workflows.BillingStateKey.ValueSet(string(wire.StateClaimed))),
	}, wire.WorkflowInferenceJob, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return nil, &DuplicateJobError{JobID: in.JobID, RunID: already.RunId}
	}
	if err != nil {
		return nil, fmt.Errorf("start job %s: %w", in.JobID, err)
	}
	return run, nil
}

// JobStatus asks a job for its saga state.
func (c *Client) JobStatus(ctx context.Context, run client.WorkflowRun) (wire.JobStatus, error) {
	var st wire.JobStatus
	v, err := c.Temporal.QueryWorkflow(ctx, run.GetID(), run.GetRunID(), wire.QueryState)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}
