package workflows

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/inferflow/inferflow/wire"
)

// The workflow inputs as the SDK decodes them from JSON (encoding/json, as
// `temporal workflow start --input` sends them). Seeds: testdata/fuzz/<Name>/
// plus the ones added here; `make fuzz` runs each target for FUZZTIME.

// checkFieldErrors: a refusal names every field, each with a reason.
func checkFieldErrors(t *testing.T, bad wire.FieldErrors) {
	t.Helper()
	for _, fe := range bad {
		if fe.Field == "" || fe.Reason == "" {
			t.Fatalf("field error without field or reason: %#v (all: %v)", fe, bad)
		}
	}
}

// FuzzConsensusInput: any JSON document either fails to parse as JSON at
// all (the CLI and SDK refuse it before the workflow), or decodes and is
// accepted or refused with field errors naming each field; never a panic.
// An accepted input has settings in bounds and survives a round trip
// (encode, decode, validate) with the same settings.
func FuzzConsensusInput(f *testing.F) {
	f.Add([]byte(`{"itemId":"item-1","image":{"mediaType":"image/png","data":"iVBORw0KGgo="}}`))
	f.Add([]byte(`{"itemId":"item-1","image":{"mediaType":"image/jpeg","data":"/9j/"},"options":{"quorum":3,"visionTimeoutMs":1000,"judgeTimeoutMs":120000,"earlyCancel":true,"visionModelIds":["a","b","c"]}}`))
	f.Add([]byte(`{"itemId":"x","image":{"mediaType":"image/png","ref":{"key":"aa","mediaType":"image/png","size":1,"sha256":"bb"}}}`))
	f.Add([]byte(`{"itemId":5,"image":"x","options":{"quorum":"2"}}`))
	f.Add([]byte(`{"itemId":"i","image":{"mediaType":"image/png","data":"iVBORw0KGgo="},"options":{"visionTimeoutMs":288230376151741744}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var in wire.ConsensusInput
		if err := json.Unmarshal(data, &in); err != nil {
			return // not JSON: refused before any workflow code runs
		}
		s, bad := consensusSettingsOf(in)
		if len(bad) > 0 {
			checkFieldErrors(t, bad)
			return
		}
		checkConsensusSettings(t, s)
		// The settings are the given values, not values wrapped into range.
		if o := in.Options; o != nil {
			for _, c := range []struct {
				ms  *int
				got time.Duration
			}{{o.VisionTimeoutMs, s.visionTimeout}, {o.JudgeTimeoutMs, s.judgeTimeout}} {
				if c.ms != nil && (*c.ms < 1000 || *c.ms > 120_000 || c.got != time.Duration(*c.ms)*time.Millisecond) {
					t.Fatalf("accepted timeout %d ms as %v", *c.ms, c.got)
				}
			}
		}
		again, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("accepted input does not encode: %v", err)
		}
		var in2 wire.ConsensusInput
		if err := json.Unmarshal(again, &in2); err != nil {
			t.Fatalf("accepted input does not decode after encoding: %v\n%s", err, again)
		}
		s2, bad2 := consensusSettingsOf(in2)
		if len(bad2) > 0 || !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip changed the input: %v, %+v vs %+v\n%s", bad2, s, s2, again)
		}
	})
}

func checkConsensusSettings(t *testing.T, s consensusSettings) {
	t.Helper()
	inCall := func(d time.Duration) bool { return d >= MinCallTimeout && d <= MaxCallTimeout }
	if s.quorum < 1 || s.quorum > VisionCallCount || !inCall(s.visionTimeout) || !inCall(s.judgeTimeout) ||
		(s.modelIDs != nil && len(s.modelIDs) != VisionCallCount) {
		t.Fatalf("accepted settings out of bounds: %+v", s)
	}
}

// FuzzInferenceInput: as FuzzConsensusInput, for a billed job's input.
func FuzzInferenceInput(f *testing.F) {
	f.Add([]byte(`{"userId":"u","jobId":"j","payload":{"modelId":"offline-small","promptTokens":300,"prompt":"hi"}}`))
	f.Add([]byte(`{"userId":"u","jobId":"j","payload":{"modelId":"m","promptTokens":1},"options":{"billingPolicy":"best_effort_billing","timeoutMs":1000,"reconcile":{"initialBackoffMs":1,"maxBackoffMs":2,"horizonMs":3}}}`))
	f.Add([]byte(`{"userId":"u","jobId":"j","payload":{"modelId":"m","promptTokens":"300"}}`))
	f.Add([]byte(`{"userId":"u","jobId":"j","payload":{"modelId":"m","promptTokens":300},"options":{"timeoutMs":288230376151741744}}`))
	f.Add([]byte(`{"userId":"","jobId":"\u0000","payload":{"modelId":" ","promptTokens":-1},"options":{"billingPolicy":"free"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var in wire.InferenceInput
		if err := json.Unmarshal(data, &in); err != nil {
			return
		}
		s, bad := inferenceSettingsOf(in)
		if len(bad) > 0 {
			checkFieldErrors(t, bad)
			return
		}
		if s.timeout < MinJobTimeout || s.timeout > MaxJobTimeout ||
			(s.policy != wire.StrictBilling && s.policy != wire.BestEffortBilling) ||
			in.Payload.PromptTokens < 1 || in.Payload.PromptTokens > MaxPromptTokens ||
			wire.IDProblem(in.UserID) != "" || wire.IDProblem(in.JobID) != "" || wire.IDProblem(in.Payload.ModelID) != "" {
			t.Fatalf("accepted out of bounds: %+v %+v", in, s)
		}
		if init, maxB, horizon := reconcileDurations(s.reconcile); init <= 0 || maxB < init || horizon <= 0 {
			t.Fatalf("accepted reconcile options %+v as %v, %v, %v", s.reconcile, init, maxB, horizon)
		}
		if o := in.Options; o != nil && o.TimeoutMs != nil &&
			(*o.TimeoutMs < 1000 || *o.TimeoutMs > 120_000 || s.timeout != time.Duration(*o.TimeoutMs)*time.Millisecond) {
			t.Fatalf("accepted timeout %d ms as %v", *o.TimeoutMs, s.timeout)
		}
		again, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("accepted input does not encode: %v", err)
		}
		var in2 wire.InferenceInput
		if err := json.Unmarshal(again, &in2); err != nil {
			t.Fatalf("accepted input does not decode after encoding: %v\n%s", err, again)
		}
		s2, bad2 := inferenceSettingsOf(in2)
		if len(bad2) > 0 || !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip changed the input: %v, %+v vs %+v\n%s", bad2, s, s2, again)
		}
	})
}

// The typed refusal is what callers branch on: errors.As finds the field.
func TestInferenceRefusalIsTyped(t *testing.T) {
	_, bad := inferenceSettingsOf(wire.InferenceInput{UserID: "u", JobID: "j", Payload: wire.InferencePayload{ModelID: "m"}})
	var err error = bad
	var fes wire.FieldErrors
	if !errors.As(err, &fes) || len(fes) != 1 || fes[0].Field != "payload.promptTokens" {
		t.Fatalf("got %v", err)
	}
}
