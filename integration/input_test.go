package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
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

// Bad input of every kind, started with `temporal workflow start --input` as
// an operator would: each run closes failed, VALIDATION_FAILED, never
// retried, naming the field; no model is asked and nothing is reserved
// (the provider is a fake that counts requests; the user has credit, so a
// reservation would have been possible). JSON that does not parse never
// reaches a workflow: the CLI refuses it and starts nothing.
func TestBadInputThroughTheCLI(t *testing.T) {
	skipShort(t)
	c := dial(t)
	queue := uniqueQueue(t)
	fake := openaitest.New()
	t.Cleanup(fake.Close)
	models, err := provider.New(fake.Config())
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ctxFor(t, time.Minute), ledger.Config{DSN: t.TempDir() + "/ledger.db"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Credit(ctxFor(t, time.Minute), "u", 1<<40, "seed-u"); err != nil {
		t.Fatal(err)
	}
	startWorker(t, c, queue, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Models: models, Ledger: l})
	})
	cli, err := devserver.FindCLI(root)
	if err != nil {
		t.Fatal(err)
	}
	start := func(ctx context.Context, workflow, id, input string) ([]byte, error) {
		return exec.CommandContext(ctx, cli, "workflow", "start", "--address", server.Address, "--namespace", server.Namespace,
			"--type", workflow, "--task-queue", queue, "--workflow-id", id, "--input", input).CombinedOutput()
	}
	png := `{"mediaType":"image/png","data":"iVBORw0KGgo="}`
	job := func(payload, options string) string {
		in := `{"userId":"u","jobId":"j","payload":` + payload
		if options != "" {
			in += `,"options":` + options
		}
		return in + "}"
	}
	tests := []struct {
		name, workflow, input, field string
		details                      bool // the failure carries invalidFields
	}{
		{"consensus: quorum as a string", wire.WorkflowConsensusEvaluation, `{"itemId":"c1","image":` + png + `,"options":{"quorum":"2"}}`, "options.quorum", true},
		{"consensus: text posing as a PNG", wire.WorkflowConsensusEvaluation, `{"itemId":"c2","image":{"mediaType":"image/png","data":"aGVsbG8gd29ybGQ="}}`, "image.data", true},
		{"consensus: JPEG declared as PNG", wire.WorkflowConsensusEvaluation, `{"itemId":"c3","image":{"mediaType":"image/png","data":"/9j/4AAQ"}}`, "image.mediaType", true},
		{"consensus: blank item id", wire.WorkflowConsensusEvaluation, `{"itemId":"   ","image":` + png + `}`, "itemId", true},
		{"consensus: control character in the id", wire.WorkflowConsensusEvaluation, `{"itemId":"c\u0007","image":` + png + `}`, "itemId", true},
		{"consensus: timeout that wraps a duration", wire.WorkflowConsensusEvaluation, `{"itemId":"c4","image":` + png + `,"options":{"visionTimeoutMs":288230376151741744}}`, "options.visionTimeoutMs", true},
		{"consensus: two model ids", wire.WorkflowConsensusEvaluation, `{"itemId":"c5","image":` + png + `,"options":{"visionModelIds":["a","b"]}}`, "options.visionModelIds", true},
		{"inference: unknown model", wire.WorkflowInferenceJob, job(`{"modelId":"gpt-2","promptTokens":300}`, ""), "payload.modelId", true},
		{"inference: negative tokens", wire.WorkflowInferenceJob, job(`{"modelId":"offline-small","promptTokens":-5}`, ""), "payload.promptTokens", true},
		{"inference: huge tokens", wire.WorkflowInferenceJob, job(`{"modelId":"offline-small","promptTokens":1000000000000}`, ""), "payload.promptTokens", true},
		{"inference: tokens past int64", wire.WorkflowInferenceJob, job(`{"modelId":"offline-small","promptTokens":1e30}`, ""), "payload.promptTokens", true},
		{"inference: tokens as a string", wire.WorkflowInferenceJob, job(`{"modelId":"offline-small","promptTokens":"300"}`, ""), "payload.promptTokens", true},
		{"inference: timeout that wraps a duration", wire.WorkflowInferenceJob, job(`{"modelId":"offline-small","promptTokens":300}`, `{"timeoutMs":288230376151741744}`), "options.timeoutMs", true},
		{"inference: unknown billing policy", wire.WorkflowInferenceJob, job(`{"modelId":"offline-small","promptTokens":300}`, `{"billingPolicy":"free"}`), "options.billingPolicy", true},
		{"inference: reconcile horizon past a duration", wire.WorkflowInferenceJob, job(`{"modelId":"offline-small","promptTokens":300}`, `{"reconcile":{"horizonMs":9223372036855}}`), "options.reconcile.horizonMs", true},
		{"inference: blank user", wire.WorkflowInferenceJob, `{"userId":"","jobId":"j","payload":{"modelId":"offline-small","promptTokens":300}}`, "userId", true},
		{"batch: concurrency as a string", wire.WorkflowConsensusBatch, `{"batchId":"b1","items":[{"itemId":"b1a","image":` + png + `}],"concurrency":"5"}`, "concurrency", false},
		{"batch: an item's quorum as a string", wire.WorkflowConsensusBatch, `{"batchId":"b2","items":[{"itemId":"b2a","image":` + png + `,"options":{"quorum":"2"}}],"concurrency":1}`, "items[0].options.quorum", false},
		{"batch: zero concurrency", wire.WorkflowConsensusBatch, `{"batchId":"b3","items":[{"itemId":"b3a","image":` + png + `}],"concurrency":0}`, "concurrency", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ctxFor(t, time.Minute)
			id := fmt.Sprintf("bad-input-%s-%d", queue, i)
			if tt.workflow == wire.WorkflowInferenceJob {
				id = wire.InferenceWorkflowID("j") + "-" + queue + fmt.Sprint(i) // refused before the id is checked
			}
			if out, err := start(ctx, tt.workflow, id, tt.input); err != nil {
				t.Fatalf("temporal workflow start: %v\n%s", err, out)
			}
			err := c.GetWorkflow(ctx, id, "").Get(ctx, nil)
			f, ok := inferflow.AsFailure(err)
			if !ok || f.Code != wire.CodeValidationFailed || !strings.Contains(f.Message, tt.field+":") {
				t.Fatalf("want VALIDATION_FAILED naming %s, got %v", tt.field, err)
			}
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || !appErr.NonRetryable() {
				t.Fatalf("retryable: %v", err)
			}
			if tt.details {
				var d struct {
					RetryStrategy wire.RetryStrategy `json:"retryStrategy"`
					InvalidFields wire.FieldErrors   `json:"invalidFields"`
				}
				if err := f.Details(&d); err != nil || d.RetryStrategy != wire.NoRetry || len(d.InvalidFields) == 0 || d.InvalidFields[0].Field != tt.field {
					t.Fatalf("details %+v, %v", d, err)
				}
			}
			desc, err := c.DescribeWorkflow(ctx, id, "")
			if err != nil {
				t.Fatal(err)
			}
			if st := desc.RawResponse.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_FAILED {
				t.Fatalf("status %v", st)
			}
		})
	}
	t.Run("malformed JSON is refused by the CLI", func(t *testing.T) {
		ctx := ctxFor(t, time.Minute)
		for i, in := range []string{`{"itemId":`, `{"itemId":"x",}`, `not json`} {
			id := fmt.Sprintf("bad-json-%s-%d", queue, i)
			out, err := start(ctx, wire.WorkflowConsensusEvaluation, id, in)
			if err == nil {
				t.Fatalf("%q: the CLI started %s:\n%s", in, id, out)
			}
			if _, derr := c.DescribeWorkflow(ctx, id, ""); derr == nil {
				t.Fatalf("%q: a workflow %s exists", in, id)
			}
		}
	})
	if n := fake.Requests(); n != 0 {
		t.Errorf("%d provider requests, want 0", n)
	}
	rep, err := l.Audit(ctxFor(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Reservations != 0 || len(rep.Violations) > 0 {
		t.Errorf("ledger: %d reservations, violations %v; want none", rep.Reservations, rep.Violations)
	}
}
