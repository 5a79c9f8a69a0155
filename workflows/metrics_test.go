package workflows

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/inferflow/inferflow/internal/metrics"
	"github.com/inferflow/inferflow/wire"
)

// The workflows emit the seed's metrics through the SDK's replay-safe
// handler, under Prometheus names.
func TestWorkflowMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	var s testsuite.WorkflowTestSuite
	s.SetMetricsHandler(metrics.NewHandler(reg))

	// Consensus: one slot fails permanently, so the run is degraded.
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(ConsensusEvaluation)
	env.RegisterActivity(act)
	vs := &visionScript{answer: func(slot, _ int, _ context.Context) (wire.VisionResult, error) {
		if slot == 2 {
			return wire.VisionResult{}, codeErr("CLIENT_ERROR")
		}
		return ok(slot, 3)
	}}
	env.OnActivity(act.VisionCall, mock.Anything, mock.Anything).Return(vs.call)
	env.OnActivity(act.JudgeCall, mock.Anything, mock.Anything).Return((&judgeCapture{}).ok)
	env.ExecuteWorkflow(ConsensusEvaluation, validInput(t))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}

	// Consensus: quorum not met.
	env = s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(ConsensusEvaluation)
	env.RegisterActivity(act)
	vs = &visionScript{answer: func(slot, _ int, _ context.Context) (wire.VisionResult, error) {
		if slot > 0 {
			return wire.VisionResult{}, codeErr("INVALID_OUTPUT")
		}
		return ok(slot, 3)
	}}
	env.OnActivity(act.VisionCall, mock.Anything, mock.Anything).Return(vs.call)
	env.ExecuteWorkflow(ConsensusEvaluation, validInput(t))

	// Saga: capture fails under best effort.
	f := newFakeBilling()
	f.captureErr = func(int) error { return context.DeadlineExceeded }
	env = s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(InferenceJob)
	env.RegisterWorkflow(Reconcile)
	env.RegisterActivity(billing)
	f.install(env)
	startAsJob(env, "job-1")
	env.ExecuteWorkflow(InferenceJob, sagaInput(wire.BestEffortBilling))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}

	for name, want := range map[string]int{
		"consensus_pipeline_success_total":      1,
		"consensus_pipeline_failure_total":      1,
		"consensus_quorum_failed_total":         1,
		"consensus_pipeline_duration_seconds":   1,
		"billing_reserve_success_total":         1,
		"billing_reserve_duration_seconds":      1,
		"model_call_success_total":              1,
		"billing_capture_failure_total":         1,
		"dlq_enqueue_success_total":             1,
		"model_call_duration_seconds":           1,
		"job_state_transition_failure_total":    0,
		"consensus_vision_call_cancelled_total": 0,
	} {
		n, err := testutil.GatherAndCount(reg, name)
		if err != nil {
			t.Fatal(err)
		}
		if (want == 0) != (n == 0) {
			t.Errorf("%s: %d series, want %d", name, n, want)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP consensus_pipeline_success_total inferflow metric consensus_pipeline_success_total
# TYPE consensus_pipeline_success_total counter
consensus_pipeline_success_total{degraded="true"} 1
`), "consensus_pipeline_success_total"); err != nil {
		t.Error(err)
	}
}
