package activities

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/wire"
)

func TestCountBatchItemsBounds(t *testing.T) {
	long := `{"itemId":"a","image":{"mediaType":"image/png","data":"` + strings.Repeat("A", wire.MaxBatchLineBytes) + `"}}` + "\n"
	for _, tt := range []struct {
		name, file string
		want       int
	}{
		{"counts non-blank lines", "{\"itemId\":\"a\"}\n\n  \n{\"itemId\":\"b\"}", 2},
		{"blank only", "\n\n", -1},
		{"line over the limit", "{\"itemId\":\"a\"}\n" + long, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := &Batch{Blobs: blob.Dir{Root: t.TempDir()}}
			ref, err := b.items().Put(context.Background(), []byte(tt.file), MediaTypeJSONL)
			if err != nil {
				t.Fatal(err)
			}
			n, err := b.CountBatchItems(context.Background(), ref)
			var appErr *temporal.ApplicationError
			switch {
			case tt.want >= 0 && (err != nil || n != tt.want):
				t.Errorf("count = %d, %v; want %d", n, err, tt.want)
			case tt.want < 0 && (!errors.As(err, &appErr) || appErr.Type() != string(wire.CodeValidationFailed) || !appErr.NonRetryable()):
				t.Errorf("count = %d, %v; want a non-retryable VALIDATION_FAILED", n, err)
			}
		})
	}
}

// Pages follow each other by byte offset, whatever the line lengths, and a
// line that is not an item is a rejected line, not an error.
func TestReadBatchItemsPages(t *testing.T) {
	b := &Batch{Blobs: blob.Dir{Root: t.TempDir()}}
	file := "{\"itemId\":\"a\"}\n\n{\"itemId\":\"bb\"}\nnot json\n{\"itemId\":\"ccc\"}\n{\"itemId\":\"dd\",\"options\":{\"quorum\":\"2\"}}"
	ref, err := b.items().Put(context.Background(), []byte(file), MediaTypeJSONL)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	off := int64(0)
	for pages := 0; off < ref.Size; pages++ {
		if pages > 10 {
			t.Fatal("no progress")
		}
		out, err := b.ReadBatchItems(context.Background(), wire.ReadBatchItemsInput{Ref: ref, Offset: off, Max: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			ids = append(ids, it.ItemID)
		}
		for _, l := range out.Rejected {
			ids = append(ids, "rejected:"+string(l.Error.Code))
			// A field of the wrong JSON type is named, not defaulted.
			if l.ItemID == "dd" && (l.Error.Details == nil || len(l.Error.Details.InvalidFields) != 1 ||
				l.Error.Details.InvalidFields[0].Field != "options.quorum") {
				t.Errorf("wrong-typed quorum: %+v", l.Error)
			}
		}
		off = out.Next
	}
	if got := strings.Join(ids, ","); got != "a,bb,ccc,rejected:VALIDATION_FAILED,rejected:VALIDATION_FAILED" || off != ref.Size {
		t.Errorf("read %s ending at %d, want a,bb,ccc and two rejected ending at %d", got, off, ref.Size)
	}
}

// Every failure of a batch activity carries a defined code (CONTRACT,
// "Error codes"): storage failures are STORAGE_ERROR (retried), a worker
// without a Temporal client is INTERNAL_ERROR.
func TestBatchActivityFailuresAreTyped(t *testing.T) {
	ctx := context.Background()
	// A root that is a file: every write under it fails with an I/O error.
	notDir := t.TempDir() + "/file"
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	broken := &Batch{Blobs: blob.Dir{Root: notDir}}
	lines := []wire.BatchResultLine{{ItemID: "a", Status: "succeeded"}}
	for _, tt := range []struct {
		name string
		run  func() error
		want wire.Code
	}{
		{"write results to a broken store", func() error { _, err := broken.WriteBatchResults(ctx, lines); return err }, wire.CodeStorageError},
		{"assemble from a broken store", func() error {
			_, err := broken.AssembleBatchResults(ctx, []wire.BlobRef{{Key: "x"}, {Key: "y"}})
			return err
		}, wire.CodeStorageError},
		{"await without a Temporal client", func() error { _, err := (&Batch{}).AwaitEvaluation(ctx, "a"); return err }, wire.CodeInternalError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != string(tt.want) {
				t.Fatalf("error = %v, want code %s", err, tt.want)
			}
		})
	}
}
