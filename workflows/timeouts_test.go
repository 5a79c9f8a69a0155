package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/inferflow/inferflow/wire"
)

// timeoutsSeen records each activity type's start-to-close timeout as the
// activity sees it.
type timeoutsSeen struct {
	mu   sync.Mutex
	seen map[string]time.Duration
}

func (s *timeoutsSeen) record(ctx context.Context) {
	info := activity.GetInfo(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]time.Duration{}
	}
	s.seen[info.ActivityType.Name] = info.StartToCloseTimeout
}

// The workflows' default call timeouts, and an input's own, reach the
// activities' options.
func TestTimeoutsReachActivityOptions(t *testing.T) {
	ms := func(d time.Duration) *int { return intp(int(d.Milliseconds())) }
	t.Run("consensus", func(t *testing.T) {
		tests := []struct {
			name          string
			opts          *wire.ConsensusOptions
			vision, judge time.Duration
		}{
			{name: "defaults", vision: DefaultVisionTimeout, judge: DefaultJudgeTimeout},
			{name: "input", opts: &wire.ConsensusOptions{VisionTimeoutMs: ms(7 * time.Second), JudgeTimeoutMs: ms(9 * time.Second)},
				vision: 7 * time.Second, judge: 9 * time.Second},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				env := newEnv(t)
				var s timeoutsSeen
				env.OnActivity(act.VisionCall, mock.Anything, mock.Anything).Return(
					func(ctx context.Context, in wire.VisionInput) (wire.VisionResult, error) {
						s.record(ctx)
						return ok(in.CallIndex, 5)
					})
				env.OnActivity(act.JudgeCall, mock.Anything, mock.Anything).Return(
					func(ctx context.Context, in wire.JudgeInput) (wire.JudgeResult, error) {
						s.record(ctx)
						return (&judgeCapture{}).ok(ctx, in)
					})
				in := validInput(t)
				in.Options = tt.opts
				env.ExecuteWorkflow(ConsensusEvaluation, in)
				if err := env.GetWorkflowError(); err != nil {
					t.Fatal(err)
				}
				if s.seen["VisionCall"] != tt.vision || s.seen["JudgeCall"] != tt.judge {
					t.Fatalf("start-to-close %v, want VisionCall %s, JudgeCall %s", s.seen, tt.vision, tt.judge)
				}
			})
		}
	})
	t.Run("inference", func(t *testing.T) {
		tests := []struct {
			name    string
			timeout *int
			want    time.Duration // the job's timeout, sent to CallModel
		}{
			{name: "default", want: DefaultJobTimeout},
			{name: "input", timeout: ms(12 * time.Second), want: 12 * time.Second},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var suite testsuite.WorkflowTestSuite
				env := suite.NewTestWorkflowEnvironment()
				env.RegisterWorkflow(InferenceJob)
				env.RegisterActivity(billing)
				var s timeoutsSeen
				var sent int
				env.OnActivity(billing.CallModel, mock.Anything, mock.Anything).Return(
					func(ctx context.Context, in wire.ModelInput) (wire.ModelResult, error) {
						s.record(ctx)
						sent = in.TimeoutMs
						return wire.ModelResult{Text: "ok", ModelID: in.ModelID, Usage: usage}, nil
					})
				newFakeBilling().install(env) // after: the first matching mock answers
				startAsJob(env, "job-1")
				in := sagaInput("")
				if tt.timeout != nil {
					in.Options = &wire.InferenceOptions{TimeoutMs: tt.timeout}
				}
				env.ExecuteWorkflow(InferenceJob, in)
				if err := env.GetWorkflowError(); err != nil {
					t.Fatal(err)
				}
				// The job's timeout is enforced inside the activity; the
				// start-to-close only catches a dead worker, 10 s later.
				if sent != int(tt.want.Milliseconds()) || s.seen["CallModel"] != tt.want+10*time.Second {
					t.Fatalf("CallModel got timeoutMs %d and start-to-close %v, want %d and %s", sent, s.seen, tt.want.Milliseconds(), tt.want+10*time.Second)
				}
			})
		}
	})
}
