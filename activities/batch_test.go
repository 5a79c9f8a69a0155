package activities

import (
	"context"
	"errors"
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
	file := "{\"itemId\":\"a\"}\n\n{\"itemId\":\"bb\"}\nnot json\n{\"itemId\":\"ccc\"}"
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
		}
		off = out.Next
	}
	if got := strings.Join(ids, ","); got != "a,bb,ccc,rejected:VALIDATION_FAILED" || off != ref.Size {
		t.Errorf("read %s ending at %d, want a,bb,ccc and one rejected ending at %d", got, off, ref.Size)
	}
}
