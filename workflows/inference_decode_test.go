package workflows

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/inferflow/inferflow/wire"
)

// Wrong JSON types in a billed job's input end it as VALIDATION_FAILED
// naming the field, before anything is reserved (not as the SDK's untyped
// decode error).
func TestSagaWrongJSONTypesAreValidationFailures(t *testing.T) {
	tests := []struct{ name, input, field string }{
		{"prompt tokens as a string", `{"userId":"u","jobId":"j","payload":{"modelId":"offline-small","promptTokens":"300"}}`, "payload.promptTokens"},
		{"fractional timeout", `{"userId":"u","jobId":"j","payload":{"modelId":"offline-small","promptTokens":300},"options":{"timeoutMs":1000.5}}`, "options.timeoutMs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBilling()
			env := newSagaEnv(t, f)
			env.ExecuteWorkflow(wire.WorkflowInferenceJob, json.RawMessage(tt.input))
			err := env.GetWorkflowError()
			code, d := inferenceFailure(t, err)
			if code != wire.CodeValidationFailed || d.RetryStrategy != wire.NoRetry || f.reserves != 0 || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("got %s/%s, reserves %d: %v", code, d.RetryStrategy, f.reserves, err)
			}
		})
	}
}
