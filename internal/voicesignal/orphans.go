package voicesignal

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.uber.org/zap"

	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
)

// Sweeper is the part of client.Client that CloseOrphans uses.
type Sweeper interface {
	ListWorkflow(ctx context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
	SignalWorkflow(ctx context.Context, workflowID string, runID string, signalName string, arg any) error
}

// ErrNotIndexed: the namespace has no VoiceOwner search attribute, so
// sessions cannot be found by owner. Sessions are then started without it
// (a start naming an unknown attribute fails) and rely on the lease alone.
var ErrNotIndexed = errors.New("voicesignal: the VoiceOwner search attribute is not registered")

// maxOrphans bounds one sweep: far above the sessions one process holds.
const maxOrphans = 10_000

// OrphanReason is the close reason of a session closed by CloseOrphans.
const OrphanReason = "realtime process restarted: the call was lost"

// CloseOrphans closes the sessions a previous life of this process left
// open: every running VoiceSession whose VoiceOwner is owner gets
// session-closed with Orphaned set, and ends ORPHANED, its holds released,
// without waiting for its lease. Call it at start, before any session of
// this life is started with the attribute: it would be closed too. It
// returns the sessions signalled, and whether the namespace has the
// attribute (a listing succeeded): only then may sessions be started with
// it. ErrNotIndexed: it has not (nothing is swept); any other error: the
// sweep did not finish (the lease closes what it missed).
func CloseOrphans(ctx context.Context, c Sweeper, namespace, owner string, log *zap.Logger) (closed int, indexed bool, err error) {
	if err := wire.ValidateID("owner", owner); err != nil || strings.ContainsAny(owner, `'"\`) {
		return 0, false, fmt.Errorf("voicesignal: owner %q cannot be queried", owner)
	}
	query := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running' AND %s = '%s'",
		wire.WorkflowVoiceSession, workflows.VoiceOwnerKey.GetName(), owner)
	var token []byte
	for closed < maxOrphans {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: query, NextPageToken: token})
		var invalid *serviceerror.InvalidArgument
		if errors.As(err, &invalid) && !indexed {
			return closed, false, fmt.Errorf("%w: %v", ErrNotIndexed, err)
		}
		if err != nil {
			return closed, indexed, fmt.Errorf("voicesignal: list sessions of %s: %w", owner, err)
		}
		indexed = true
		for _, e := range resp.GetExecutions() {
			id := e.GetExecution().GetWorkflowId()
			// Seq 0: unordered, handled after anything the session still holds.
			err := c.SignalWorkflow(ctx, id, e.GetExecution().GetRunId(), string(workflows.SignalSessionClosed),
				&workflows.SessionClosed{Reason: OrphanReason, Orphaned: true})
			var notFound *serviceerror.NotFound
			switch {
			case errors.As(err, &notFound): // closed meanwhile
			case err != nil:
				return closed, indexed, fmt.Errorf("voicesignal: close orphaned session %s: %w", id, err)
			default:
				closed++
				log.Info("Orphaned voice session closed", zap.String("workflowId", id), zap.String("owner", owner))
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	return closed, indexed, nil
}
