package wire

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// A wrong JSON type in an input never fails the decode: the field stays at
// zero and is named, so the workflow can fail the run as VALIDATION_FAILED.
func TestInputDecodesWrongTypesAsFieldErrors(t *testing.T) {
	tests := []struct {
		name, in string
		field    string // the one undecodable field
		reason   string // part of its reason
		check    func(ConsensusInput) bool
	}{
		{"fractional quorum", `{"itemId":"i","options":{"quorum":2.5,"earlyCancel":true}}`, "options.quorum", "want an integer, got number 2.5",
			func(in ConsensusInput) bool {
				return in.ItemID == "i" && in.Options.Quorum == nil && in.Options.EarlyCancel
			}},
		{"quorum as a string", `{"itemId":"i","options":{"quorum":"2"}}`, "options.quorum", "want an integer, got string", nil},
		{"image data not base64", `{"itemId":"i","image":{"mediaType":"image/png","data":"not base64!"}}`, "image.data", "base64",
			func(in ConsensusInput) bool { return in.Image.MediaType == "image/png" && in.Image.Data == nil }},
		{"image data a number", `{"itemId":"i","image":{"mediaType":"image/png","data":7}}`, "image.data", "want base64 text, got number", nil},
		{"model ids not strings", `{"itemId":"i","options":{"visionModelIds":["a",1,"c"]}}`, "options.visionModelIds", "want an array of strings", nil},
		{"options not an object", `{"itemId":"i","options":"fast"}`, "options", "want an object, got string",
			func(in ConsensusInput) bool { return in.Options == nil }},
		{"item id a number", `{"itemId":42}`, "itemId", "want a string, got number", nil},
		{"not an object", `[1,2]`, "input", "want an object, got array", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in ConsensusInput
			if err := json.Unmarshal([]byte(tt.in), &in); err != nil {
				t.Fatalf("decode failed: %v", err)
			}
			bad := in.Undecodable()
			if len(bad) != 1 || bad[0].Field != tt.field || !strings.Contains(bad[0].Reason, tt.reason) {
				t.Fatalf("undecodable = %v, want %s: ...%s...", bad, tt.field, tt.reason)
			}
			if tt.check != nil && !tt.check(in) {
				t.Fatalf("the other fields were not decoded: %+v", in)
			}
		})
	}

	var job InferenceInput
	if err := json.Unmarshal([]byte(`{"userId":"u","jobId":"j","payload":{"modelId":"m","promptTokens":"300"},"options":{"timeoutMs":1.5}}`), &job); err != nil {
		t.Fatal(err)
	}
	want := FieldErrors{{"payload.promptTokens", "want an integer, got string"}, {"options.timeoutMs", "want an integer, got number 1.5"}}
	if !reflect.DeepEqual(job.Undecodable(), want) || job.JobID != "j" || job.Payload.ModelID != "m" {
		t.Fatalf("inference input = %+v, undecodable %v", job, job.Undecodable())
	}
}

// A well-typed input decodes exactly as encoding/json decodes it, so
// histories replay unchanged.
func TestInputDecodesCleanInputAsEncodingJSON(t *testing.T) {
	for _, doc := range []string{
		`{"itemId":"i","image":{"mediaType":"image/png","data":"iVBORw0KGgo="},"options":{"quorum":2,"visionModelIds":["a","b","c"],"earlyCancel":true}}`,
		`{"ItemID":"i","image":{"mediaType":"image/png","ref":{"key":"k","mediaType":"image/png","size":3,"sha256":"s"}},"unknown":1}`,
		`{"itemId":"i","options":null}`,
		`null`,
	} {
		type plain ConsensusInput
		var want plain
		if err := json.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatal(err)
		}
		var got ConsensusInput
		if err := json.Unmarshal([]byte(doc), &got); err != nil || got.Undecodable() != nil || !reflect.DeepEqual(plain(got), want) {
			t.Errorf("%s: got %+v (%v, %v), want %+v", doc, got, err, got.Undecodable(), want)
		}
	}
	var job InferenceInput
	doc := `{"userId":"u","jobId":"j","payload":{"modelId":"m","promptTokens":300,"prompt":"p"},"options":{"billingPolicy":"strict_billing","reconcile":{"horizonMs":5}}}`
	if err := json.Unmarshal([]byte(doc), &job); err != nil || job.Undecodable() != nil || job.Payload.PromptTokens != 300 || job.Options.Reconcile.HorizonMs != 5 {
		t.Errorf("inference input = %+v, %v", job, err)
	}
}
