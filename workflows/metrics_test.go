package workflows

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/inferflow/inferflow/internal/metrics/metricstest"
	"github.com/inferflow/inferflow/wire"
)

// metricsSuite is a test suite whose workflows emit into reg, through the
// worker's metrics pipeline.
func metricsSuite(t *testing.T) (*prometheus.Registry, *testsuite.WorkflowTestSuite) {
	reg, h := metricstest.New(t)
	s := &testsuite.WorkflowTestSuite{}
	s.SetMetricsHandler(h)
	return reg, s
}

func sagaEnvIn(s *testsuite.WorkflowTestSuite, f *fakeBilling) *testsuite.TestWorkflowEnvironment {
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(InferenceJob)
	env.RegisterWorkflow(Reconcile)
	env.RegisterActivity(billing)
	f.install(env)
	startAsJob(env, "job-1") // sagaInput's job: the workflow id must be the job's
	return env
}

// wantSum checks the sum of name's series that carry the labels in match.
func wantSum(t *testing.T, reg prometheus.Gatherer, name string, match map[string]string, want float64) {
	t.Helper()
	if got := metricstest.Sum(t, reg, name, match); got != want {
		t.Errorf("%s%v = %v, want %v; series %+v", name, match, got, want, metricstest.Get(t, reg, name))
	}
}

// The workflows emit the seed's metrics through the SDK's replay-safe
// handler, under Prometheus names.
func TestWorkflowMetrics(t *testing.T) {
	reg, s := metricsSuite(t)

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
	env = sagaEnvIn(s, f)
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
		if n := len(metricstest.Get(t, reg, name)); (want == 0) != (n == 0) {
			t.Errorf("%s: %d series, want %d", name, n, want)
		}
	}
	wantSum(t, reg, "consensus_pipeline_success_total", map[string]string{"degraded": "true"}, 1)
	wantSum(t, reg, "consensus_pipeline_failure_total", map[string]string{"errorCode": string(wire.CodeQuorumNotMet)}, 1)
	wantSum(t, reg, "consensus_quorum_failed_total", map[string]string{"retryStrategy": string(wire.NoRetry)}, 1)
	wantSum(t, reg, "consensus_pipeline_duration_seconds", nil, 2)
	wantSum(t, reg, "dlq_enqueue_success_total", map[string]string{"dlqType": string(wire.DLQCaptureFailed), "modelId": "gpt-4o",
		"billingPolicy": string(wire.BestEffortBilling)}, 1)
}

// A failed model call keeps its errorCode on model_call_duration even when a
// success was recorded first (the old bridge fixed the label set at first
// use and dropped it), and the release after it is labelled with the
// model's code.
func TestSagaFailureMetricLabels(t *testing.T) {
	reg, s := metricsSuite(t)

	env := sagaEnvIn(s, newFakeBilling())
	env.ExecuteWorkflow(InferenceJob, sagaInput(""))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}

	f := newFakeBilling()
	f.modelErr = temporal.NewNonRetryableApplicationError("model", string(wire.CodeModelServerError), nil)
	f.releaseErr = func(int) error { return errors.New("ledger down") }
	env = sagaEnvIn(s, f)
	env.ExecuteWorkflow(InferenceJob, sagaInput(""))
	if code, _ := inferenceFailure(t, env.GetWorkflowError()); code != wire.CodeModelServerError {
		t.Fatalf("code %s", code)
	}

	job := map[string]string{"modelId": "gpt-4o", "billingPolicy": string(wire.StrictBilling)}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range job {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	code := string(wire.CodeModelServerError)
	wantSum(t, reg, "model_call_success_total", job, 1)
	wantSum(t, reg, "model_call_duration_seconds", with("errorCode", ""), 1)
	wantSum(t, reg, "model_call_duration_seconds", with("errorCode", code), 1)
	wantSum(t, reg, "model_call_failure_total", with("errorCode", code), 1)
	wantSum(t, reg, "billing_release_failure_total", with("errorCode", code), 1)
	wantSum(t, reg, "billing_release_success_total", job, 0)
	wantSum(t, reg, "dlq_enqueue_success_total", with("dlqType", string(wire.DLQReleaseFailed)), 1)
}

// A DLQ entry that cannot be written is counted as dlq.enqueue.failure with
// its type; its reconciliation starts all the same and writes it
// (reconcile-always; before that change none started).
func TestDLQEnqueueFailureMetric(t *testing.T) {
	reg, s := metricsSuite(t)
	f := newFakeBilling()
	f.captureErr = func(int) error { return errors.New("ledger down") }
	f.dlqErr = temporal.NewNonRetryableApplicationError("dlq down", string(wire.CodeInfraUnavailable), nil)
	env := sagaEnvIn(s, f)
	env.ExecuteWorkflow(InferenceJob, sagaInput(wire.BestEffortBilling))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(f.dlq) == 0 || len(f.reconciles) != 1 || f.reconciles[0].Type != wire.DLQCaptureFailed {
		t.Fatalf("dlq attempts %d, reconciliations %+v; want some and one CAPTURE_FAILED", len(f.dlq), f.reconciles)
	}
	wantSum(t, reg, "dlq_enqueue_failure_total", map[string]string{"dlqType": string(wire.DLQCaptureFailed), "modelId": "gpt-4o",
		"billingPolicy": string(wire.BestEffortBilling)}, 1)
	wantSum(t, reg, "dlq_enqueue_success_total", nil, 0)
	wantSum(t, reg, "billing_capture_failure_total", nil, 1)
}

// Early cancel counts each slot it stops, labelled with the slot.
func TestCancelledCallMetric(t *testing.T) {
	reg, s := metricsSuite(t)
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(ConsensusEvaluation)
	env.RegisterActivity(act)
	var cancelled atomic.Int32
	vs := &visionScript{answer: func(slot, _ int, ctx context.Context) (wire.VisionResult, error) {
		if slot == 1 {
			select {
			case <-ctx.Done():
				cancelled.Add(1)
				return wire.VisionResult{}, ctx.Err()
			case <-time.After(10 * time.Second):
			}
		}
		return ok(slot, 7)
	}}
	env.OnActivity(act.VisionCall, mock.Anything, mock.Anything).Return(vs.call)
	env.OnActivity(act.JudgeCall, mock.Anything, mock.Anything).Return((&judgeCapture{}).ok)
	in := validInput(t)
	in.Options = &wire.ConsensusOptions{EarlyCancel: true}
	env.ExecuteWorkflow(ConsensusEvaluation, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	wantSum(t, reg, "consensus_vision_call_cancelled_total", map[string]string{"callIndex": "1"}, 1)
	wantSum(t, reg, "consensus_vision_call_cancelled_total", nil, 1)
	wantSum(t, reg, "consensus_pipeline_success_total", map[string]string{"degraded": "false"}, 1)
}
