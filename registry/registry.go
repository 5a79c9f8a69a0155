// Package registry is the one place that says what an inferflow worker runs:
// every workflow and activity, registered under its wire name with its
// dependencies. The worker, the integration tests and the replay tests all
// register through it, so none of them can miss one.
//
// A new workflow adds a line to workflowTypes and its activities to
// Activities (with any dependency they need in Deps), under names declared in
// package wire.
package registry

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/activities"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
)

// Deps are what the activities call. A test that runs only some workflows
// may leave the others' dependencies zero: they are used only when called.
type Deps struct {
	Models provider.Set
	// Blobs is the image store the starter writes (claim check).
	Blobs  blob.Dir
	Ledger ledger.Ledger
	// Temporal is the worker's client: the batch reads the outcome of items
	// evaluated before through it.
	Temporal client.Client
	// Environment labels DLQ records.
	Environment string
}

// WorkerOptions are o with what inferflow's activities need of a worker:
// the SDK's heartbeat throttle capped at activities.HeartbeatEvery, so a
// heartbeat, and with its answer a cancellation, is not held back for
// 0.8 × the heartbeat timeout.
func WorkerOptions(o worker.Options) worker.Options {
	if o.MaxHeartbeatThrottleInterval == 0 || o.MaxHeartbeatThrottleInterval > activities.HeartbeatEvery {
		o.MaxHeartbeatThrottleInterval = activities.HeartbeatEvery
	}
	return o
}

// Register registers every workflow and activity on r (a worker, or a test
// environment).
func Register(r worker.Registry, d Deps) {
	Workflows(r)
	Activities(r, d)
}

// workflowTypes are the workflows by their registered (history) names.
var workflowTypes = []struct {
	name string
	fn   any
}{
	{wire.WorkflowConsensusEvaluation, workflows.ConsensusEvaluation},
	{wire.WorkflowInferenceJob, workflows.InferenceJob},
	{wire.WorkflowReconcile, workflows.Reconcile},
	{wire.WorkflowExpireHolds, workflows.ExpireHolds},
	{wire.WorkflowVoiceSession, workflows.VoiceSession},
	{wire.WorkflowConsensusBatch, workflows.ConsensusBatch},
}

// Workflows registers the workflows only: what a replayer needs.
func Workflows(r worker.WorkflowRegistry) {
	for _, w := range workflowTypes {
		r.RegisterWorkflowWithOptions(w.fn, workflow.RegisterOptions{Name: w.name})
	}
}

// WorkflowNames lists the registered workflow types.
func WorkflowNames() []string {
	names := make([]string, len(workflowTypes))
	for i, w := range workflowTypes {
		names[i] = w.name
	}
	return names
}

// ModelActivities registers the model calls only: what a worker on
// wire.ModelCallQueue runs, under the provider's limits.
func ModelActivities(r worker.ActivityRegistry, d Deps) {
	c := &activities.Consensus{Vision: d.Models.Vision, Judge: d.Models.Judge, Blobs: d.Blobs}
	r.RegisterActivityWithOptions(c.VisionCall, activity.RegisterOptions{Name: wire.ActivityVisionCall})
	r.RegisterActivityWithOptions(c.JudgeCall, activity.RegisterOptions{Name: wire.ActivityJudgeCall})
}

// Activities registers every activity with its dependencies (the model
// calls too, for calls scheduled on the main queue by older runs).
func Activities(r worker.ActivityRegistry, d Deps) {
	c := &activities.Consensus{Vision: d.Models.Vision, Judge: d.Models.Judge, Blobs: d.Blobs}
	cb := &activities.Batch{Blobs: d.Blobs, Temporal: d.Temporal}
	b := &activities.Billing{Ledger: d.Ledger, Models: d.Models.Completer, Environment: d.Environment}
	for _, a := range []struct {
		name string
		fn   any
	}{
		{wire.ActivityVerifyImage, c.VerifyImage},
		{wire.ActivityVisionCall, c.VisionCall},
		{wire.ActivityJudgeCall, c.JudgeCall},

		{wire.ActivityCheckModel, b.CheckModel},
		{wire.ActivityReserve, b.Reserve},
		{wire.ActivityCallModel, b.CallModel},
		{wire.ActivityCapture, b.Capture},
		{wire.ActivityRelease, b.Release},
		{wire.ActivityEnqueueDLQ, b.EnqueueDLQ},
		{wire.ActivityReconcileAttempt, b.ReconcileAttempt},
		{wire.ActivityEscalate, b.Escalate},
		{wire.ActivityExpireHolds, b.ExpireHolds},
		{wire.ActivityClaimJob, b.ClaimJob},

		{wire.ActivityCountBatchItems, cb.CountBatchItems},
		{wire.ActivityReadBatchItems, cb.ReadBatchItems},
		{wire.ActivityAwaitEvaluation, cb.AwaitEvaluation},
		{wire.ActivityWriteBatchResults, cb.WriteBatchResults},
		{wire.ActivityAssembleBatchResults, cb.AssembleBatchResults},
	} {
		r.RegisterActivityWithOptions(a.fn, activity.RegisterOptions{Name: a.name})
	}
}
