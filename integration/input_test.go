package integration

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/wire"
)

// Inputs with JSON of the wrong type, started through the client and with
// `temporal workflow start --input`, end as VALIDATION_FAILED naming the
// field, not with the SDK's untyped decode error.
func TestWrongJSONTypesAreValidationFailures(t *testing.T) {
	skipShort(t)
	c := dial(t)
	queue := uniqueQueue(t)
	models, err := provider.New(provider.Config{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ctxFor(t, time.Minute), ledger.Config{DSN: t.TempDir() + "/ledger.db"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	startWorker(t, c, queue, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Models: models, Ledger: l})
	})
	cli, err := devserver.FindCLI(root)
	if err != nil {
		t.Fatal(err)
	}
	png := `{"mediaType":"image/png","data":"iVBORw0KGgo="}`
	tests := []struct {
		name, workflow, input, field string
	}{
		{"fractional quorum", wire.WorkflowConsensusEvaluation, `{"itemId":"q1","image":` + png + `,"options":{"quorum":2.5}}`, "options.quorum"},
		{"quorum as a string", wire.WorkflowConsensusEvaluation, `{"itemId":"q2","image":` + png + `,"options":{"quorum":"2"}}`, "options.quorum"},
		{"image not base64", wire.WorkflowConsensusEvaluation, `{"itemId":"q3","image":{"mediaType":"image/png","data":"%%%"}}`, "image.data"},
		{"prompt tokens as a string", wire.WorkflowInferenceJob, `{"userId":"u","jobId":"j1","payload":{"modelId":"offline-small","promptTokens":"300"}}`, "payload.promptTokens"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ctxFor(t, time.Minute)
			check := func(how string, run client.WorkflowRun) {
				t.Helper()
				err := run.Get(ctx, nil)
				f, ok := inferflow.AsFailure(err)
				if !ok || f.Code != wire.CodeValidationFailed || !strings.Contains(f.Message, tt.field) {
					t.Fatalf("%s: want VALIDATION_FAILED naming %s, got %v", how, tt.field, err)
				}
				var d struct {
					RetryStrategy wire.RetryStrategy `json:"retryStrategy"`
				}
				if err := f.Details(&d); err != nil || d.RetryStrategy != wire.NoRetry {
					t.Fatalf("%s: details %+v, %v", how, d, err)
				}
			}
			id := "wrong-type-client-" + queue + "-" + string(rune('a'+i))
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, tt.workflow, json.RawMessage(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			check("client", run)

			id = "wrong-type-cli-" + queue + "-" + string(rune('a'+i))
			out, err := exec.CommandContext(ctx, cli, "workflow", "start", "--address", server.Address, "--namespace", server.Namespace,
				"--type", tt.workflow, "--task-queue", queue, "--workflow-id", id, "--input", tt.input).CombinedOutput()
			if err != nil {
				t.Fatalf("temporal workflow start: %v\n%s", err, out)
			}
			check("CLI", c.GetWorkflow(ctx, id, ""))
		})
	}
}
