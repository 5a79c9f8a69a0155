package inferflow

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/mocks"

	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/wire"
)

// pngOf is a PNG-looking image of exactly n bytes.
func pngOf(n int) []byte {
	b := make([]byte, n)
	copy(b, pngHeader)
	return b
}

// wantLimit checks err is VALIDATION_FAILED over field's limit, naming the
// size, the limit and the setting, or nil when ok.
func wantLimit(t *testing.T, err error, ok bool, field string, size, limit int64, setting string) {
	t.Helper()
	if ok {
		var le *LimitError
		if errors.As(err, &le) {
			t.Fatalf("%d bytes (limit %d) refused: %v", size, limit, err)
		}
		return
	}
	var invalid *ValidationError
	var le *LimitError
	if !errors.As(err, &invalid) || !errors.As(err, &le) {
		t.Fatalf("%d bytes (limit %d): err = %v, want a *ValidationError with a *LimitError", size, limit, err)
	}
	if le.Field != field || le.Size != size || le.Limit != limit || le.Setting != setting {
		t.Fatalf("LimitError = %+v, want field %s size %d limit %d setting %s", le, field, size, limit, setting)
	}
	msg := err.Error()
	for _, want := range []string{string(wire.CodeValidationFailed), field, strconv.FormatInt(size, 10), strconv.FormatInt(limit, 10), setting} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not name %q", msg, want)
		}
	}
}

func TestImageSizeBoundary(t *testing.T) {
	tests := []struct {
		name    string
		limits  Limits
		size    int
		ok      bool
		limit   int64
		setting string
	}{
		{"default: exactly 20 MiB", Limits{}, 20 << 20, true, 20 << 20, "Limits.MaxImageBytes"},
		{"default: 20 MiB + 1", Limits{}, 20<<20 + 1, false, 20 << 20, "Limits.MaxImageBytes"},
		{"set: exactly the limit", Limits{MaxImageBytes: 1000, ImageSetting: "--max-image-bytes"}, 1000, true, 1000, "--max-image-bytes"},
		{"set: limit + 1", Limits{MaxImageBytes: 1000, ImageSetting: "--max-image-bytes"}, 1001, false, 1000, "--max-image-bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got started
			c := &Client{Temporal: fakeTemporal(t, &got), TaskQueue: "q", Blobs: blob.Dir{Root: t.TempDir()}, Limits: tt.limits}
			_, err := c.StartConsensus(context.Background(), ConsensusRequest{ItemID: "i", Image: pngOf(tt.size)})
			wantLimit(t, err, tt.ok, "image", int64(tt.size), tt.limit, tt.setting)
			if tt.ok && err != nil {
				t.Fatalf("within the limit: %v", err)
			}
			if (got.workflow != nil) != tt.ok {
				t.Fatalf("started %v, want %v", got.workflow != nil, tt.ok)
			}
		})
	}
}

// A catalog image over the limit is refused by its size, before it is read
// or stored.
func TestCatalogImageSizeBoundary(t *testing.T) {
	for _, tt := range []struct {
		size int
		ok   bool
	}{{1000, true}, {1001, false}} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "a.png"), pngOf(tt.size), 0o600); err != nil {
			t.Fatal(err)
		}
		store := blob.Dir{Root: t.TempDir(), MaxSize: 1 << 20}
		c := &Client{Blobs: store, Limits: Limits{MaxImageBytes: 1000, ImageSetting: "--max-image-bytes"}}
		_, _, err := c.StoreCatalog(context.Background(), strings.NewReader(`{"itemId":"a","image":"a.png"}`+"\n"), dir)
		wantLimit(t, err, tt.ok, "catalog line 1: image a.png", int64(tt.size), 1000, "--max-image-bytes")
		if tt.ok && err != nil {
			t.Fatalf("%d bytes: %v", tt.size, err)
		}
		if entries, _ := os.ReadDir(store.Root); !tt.ok && len(entries) != 0 {
			t.Errorf("%d bytes: something was stored: %v", tt.size, entries)
		}
	}
}

func TestPromptSizeBoundary(t *testing.T) {
	tests := []struct {
		name    string
		limits  Limits
		size    int
		ok      bool
		limit   int64
		setting string
	}{
		{"default: exactly 256 KiB", Limits{}, 256 << 10, true, 256 << 10, "Limits.MaxPromptBytes"},
		{"default: 256 KiB + 1", Limits{}, 256<<10 + 1, false, 256 << 10, "Limits.MaxPromptBytes"},
		{"set: exactly the limit", Limits{MaxPromptBytes: 10, PromptSetting: "--max-prompt-bytes"}, 10, true, 10, "--max-prompt-bytes"},
		{"set: limit + 1", Limits{MaxPromptBytes: 10, PromptSetting: "--max-prompt-bytes"}, 11, false, 10, "--max-prompt-bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := &mocks.Client{}
			startedJob := false
			tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
				Return(&mocks.WorkflowRun{}, nil).Run(func(mock.Arguments) { startedJob = true }).Maybe()
			c := &Client{Temporal: tc, TaskQueue: "q", Limits: tt.limits}
			in := wire.InferenceInput{UserID: "u", JobID: "j"}
			in.Payload.Prompt = strings.Repeat("p", tt.size)
			_, err := c.StartInference(context.Background(), in)
			wantLimit(t, err, tt.ok, "prompt", int64(tt.size), tt.limit, tt.setting)
			if tt.ok && err != nil {
				t.Fatalf("within the limit: %v", err)
			}
			if startedJob != tt.ok {
				t.Fatalf("started %v, want %v", startedJob, tt.ok)
			}
		})
	}
}
