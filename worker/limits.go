package main

import (
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/wire"
)

// newModelWorker polls the model-call queue of taskQueue under the
// provider's limits. rps is Temporal's task-queue rate limit: the server
// dispatches at most that many model calls per second to all the workers of
// the queue together (0: no limit). calls bounds this worker's calls at
// once; across workers the ceiling is calls times the workers. Both limits
// are published as gauges beside the SDK's own slot metrics
// (temporal_worker_task_slots_used with this task queue is current usage).
func newModelWorker(c client.Client, taskQueue string, rps, calls int, mh client.MetricsHandler) worker.Worker {
	q := wire.ModelCallQueue(taskQueue)
	opts := worker.Options{
		MaxConcurrentActivityExecutionSize: calls,
		// Model calls only: workflows stay on taskQueue.
		DisableWorkflowWorker: true,
	}
	if rps > 0 {
		opts.TaskQueueActivitiesPerSecond = float64(rps)
	}
	if mh != nil {
		g := mh.WithTags(map[string]string{"task_queue": q})
		g.Gauge("model_call_limit_per_second").Update(float64(rps))
		g.Gauge("model_call_limit_concurrent").Update(float64(calls))
	}
	return worker.New(c, q, registry.WorkerOptions(opts))
}
