package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzBatchInput: any JSON document decodes (or is not JSON at all, refused
// before any workflow code), and Validate accepts it or refuses it with a
// *FieldError or FieldErrors naming the field; never a panic. An accepted
// input survives a round trip: it encodes, decodes to an input Validate
// accepts, and encodes to the same bytes again.
func FuzzBatchInput(f *testing.F) {
	f.Add([]byte(`{"batchId":"b","items":[{"itemId":"a","image":{"mediaType":"image/png","data":"iVBORw0KGgo="}}],"concurrency":2}`))
	f.Add([]byte(`{"batchId":"b","itemsRef":{"key":"` + hex64 + `","mediaType":"application/jsonl","size":10,"sha256":"` + hex64 + `"},"concurrency":500,"itemsPerRun":4000,"retryFailed":true}`))
	f.Add([]byte(`{"batchId":"b","items":[{"itemId":"a"}],"concurrency":1,"state":{"next":1,"total":2,"counts":{"succeeded":1,"failedByCode":{"TIMEOUT":1}},"startedAt":"2026-01-02T03:04:05Z","runs":1}}`))
	f.Add([]byte(`{"batchId":"b","items":[{"itemId":"a","options":{"quorum":"2"}},7],"concurrency":"5"}`))
	f.Add([]byte(`{"batchId":"","items":[],"itemsRef":{"size":-1},"concurrency":0,"itemsPerRun":-1}`))
	f.Add([]byte(`{"state":{"startedAt":"not a time"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var in BatchInput
		if err := json.Unmarshal(data, &in); err != nil {
			return // not JSON
		}
		checkTyped(t, in.UndecodableItems())
		if err := in.Validate(); err != nil {
			checkTyped(t, err)
			return
		}
		enc, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("accepted input does not encode: %v", err)
		}
		var again BatchInput
		if err := json.Unmarshal(enc, &again); err != nil {
			t.Fatalf("encoded input does not decode: %v\n%s", err, enc)
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("round trip refused: %v\n%s", err, enc)
		}
		enc2, err := json.Marshal(again)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the input (%v):\n%s\n%s", err, enc, enc2)
		}
	})
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// checkTyped: err is nil, a *FieldError or FieldErrors, each naming a field
// with a reason.
func checkTyped(t *testing.T, err error) {
	t.Helper()
	if fes, ok := err.(FieldErrors); ok && fes == nil {
		return
	}
	if err == nil {
		return
	}
	var fe *FieldError
	var fes FieldErrors
	switch {
	case errors.As(err, &fe):
		fes = FieldErrors{*fe}
	case errors.As(err, &fes):
	default:
		t.Fatalf("untyped refusal %T: %v", err, err)
	}
	if len(fes) == 0 {
		t.Fatalf("empty FieldErrors as a refusal")
	}
	for _, fe := range fes {
		if fe.Field == "" || fe.Reason == "" {
			t.Fatalf("field error without field or reason: %#v", fe)
		}
	}
}
