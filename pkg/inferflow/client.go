// Package inferflow is the starter's logic as a library: a backend imports it
// to start (or attach to) consensus evaluations and billed inference jobs,
// follow their progress and read their results or typed failures.
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
)

// Client starts inferflow workflows on one task queue.
type Client struct {
	Temporal  client.Client
	TaskQueue string
	// Blobs is where images too large to travel inline are stored; the
	// worker must read the same store. blob.Dir (package pkg/blob) is the
	// folder store the worker reads. Nil refuses images over
	// InlineImageLimit.
	Blobs BlobStore
	// Limits bound what a request may carry (zero: the defaults).
	Limits Limits
}

// BlobStore keeps an image and returns the reference that travels in
// workflow input instead of its bytes (the claim check). blob.Dir is one.
type BlobStore interface {
	Put(ctx context.Context, data []byte, mediaType string) (wire.BlobRef, error)
}

// ValidationError is a request refused before anything was started
// (wire.CodeValidationFailed).
type ValidationError struct{ Err error }

func (e *ValidationError) Error() string {
	return string(wire.CodeValidationFailed) + ": " + e.Err.Error()
}
func (e *ValidationError) Unwrap() error { return e.Err }

// Run is a started (or attached) workflow run.
type Run struct {
	client.WorkflowRun
	// Attached is true when the workflow already existed (running, or
	// closed successfully) and no new run was started.
	Attached bool
}

// startOrAttach starts the workflow unless its id already has a run that
// is running or succeeded, and then attaches the caller to that run, whose
// result it reads. The reuse policy ALLOW_DUPLICATE_FAILED_ONLY starts a new
// run after one that failed (or was cancelled, terminated or timed out), so
// a failure can be retried under the same id, while a success is never run
// twice; the conflict policy FAIL refuses an id whose run is still running.
func (c *Client) startOrAttach(ctx context.Context, opts client.StartWorkflowOptions, wf any, args ...any) (*Run, error) {
	opts.TaskQueue = c.TaskQueue
	opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL
	opts.WorkflowExecutionErrorWhenAlreadyStarted = true
	// A backend that runs a worker in the same process gets the first
	// workflow task in the start response; elsewhere this is ignored.
	opts.EnableEagerStart = true
	run, err := c.Temporal.ExecuteWorkflow(ctx, opts, wf, args...)
	if err == nil {
		return &Run{WorkflowRun: run}, nil
	}
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return &Run{WorkflowRun: c.Temporal.GetWorkflow(ctx, opts.ID, already.RunId), Attached: true}, nil
	}
	return nil, fmt.Errorf("start %s: %w", opts.ID, err)
}

// Failure is a workflow's typed failure: Code is its error code and Details
// its structured details (wire.ConsensusFailure, wire.InferenceFailure).
type Failure struct {
	Code    wire.Code
	Message string
	appErr  *temporal.ApplicationError
}

func (f *Failure) Error() string { return string(f.Code) + ": " + f.Message }

// Details decodes the failure's details into v.
func (f *Failure) Details(v any) error {
	if f.appErr == nil || !f.appErr.HasDetails() {
		return errors.New("failure has no details")
	}
	return f.appErr.Details(v)
}

// AsFailure extracts a typed failure from a workflow result error; ok is
// false for other errors (cancelled, terminated, timed out, transport).
func AsFailure(err error) (*Failure, bool) {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() == "" {
		return nil, false
	}
	return &Failure{Code: wire.Code(appErr.Type()), Message: appErr.Message(), appErr: appErr}, true
}
