package wire

import "time"

// Workflow types, as registered on the worker and recorded in history.
const (
	WorkflowConsensusEvaluation = "ConsensusEvaluation"
	WorkflowInferenceJob        = "InferenceJob"
	WorkflowReconcile           = "Reconcile"
	WorkflowExpireHolds         = "ExpireHolds"
	WorkflowVoiceSession        = "VoiceSession"
	WorkflowConsensusBatch      = "ConsensusBatch"
)

// Activity types, as registered on the worker and recorded in history.
// Workflows call activities by these names, so the workflow layer needs no
// import of the activities' implementations.
const (
	// Consensus evaluation.
	ActivityVerifyImage = "VerifyImage"
	ActivityVisionCall  = "VisionCall"
	ActivityJudgeCall   = "JudgeCall"

	// Billed inference. CheckModel runs as a local activity.
	ActivityCheckModel       = "CheckModel"
	ActivityReserve          = "Reserve"
	ActivityCallModel        = "CallModel"
	ActivityCapture          = "Capture"
	ActivityRelease          = "Release"
	ActivityEnqueueDLQ       = "EnqueueDLQ"
	ActivityReconcileAttempt = "ReconcileAttempt"
	ActivityEscalate         = "Escalate"
	ActivityExpireHolds      = "ExpireHolds"
	ActivityClaimJob         = "ClaimJob"

	// Consensus batch.
	ActivityCountBatchItems      = "CountBatchItems"
	ActivityReadBatchItems       = "ReadBatchItems"
	ActivityAwaitEvaluation      = "AwaitEvaluation"
	ActivityWriteBatchResults    = "WriteBatchResults"
	ActivityAssembleBatchResults = "AssembleBatchResults"
)

// Query types.
const (
	// QueryProgress returns a ConsensusProgress (a BatchProgress for a
	// batch).
	QueryProgress = "progress"
	// QueryState returns a JobStatus.
	QueryState = "state"
)

// Workflow ids: one execution per item, job or reconciliation.
func ConsensusWorkflowID(itemID string) string { return "consensus-" + itemID }

// InferenceWorkflowID is the workflow id for a job: one execution per job id.
func InferenceWorkflowID(jobID string) string { return "inference-" + jobID }

// ReconcileWorkflowID is one reconciliation per job.
func ReconcileWorkflowID(jobID string) string { return "reconcile-" + jobID }

// ModelCallQueue is the task queue of the model calls (VisionCall,
// JudgeCall) of workflows on taskQueue. Its workers carry the provider's
// limits: Temporal's task-queue rate limit holds requests per second across
// every worker polling it; each worker bounds its calls at once.
func ModelCallQueue(taskQueue string) string { return taskQueue + "-models" }

// HeartbeatEvery is the unit of model calls' heartbeat timeouts (a
// multiple of it: a worker that stops heartbeating for that long is taken
// for dead). The calls heartbeat far more often (activities.HeartbeatEvery),
// which is how a cancellation reaches a call in flight quickly.
const HeartbeatEvery = time.Second
