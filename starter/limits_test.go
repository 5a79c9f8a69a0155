package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inferflow/inferflow/internal/envflag/envflagtest"
)

// The size limits refuse a request at exactly limit+1 bytes before any
// connection is made (the address points nowhere), with VALIDATION_FAILED
// naming the field, its size, the limit and the flag; at exactly the limit
// the request passes the check and fails only for want of Temporal.
func TestSizeLimitsAtTheBoundary(t *testing.T) {
	envflagtest.Isolate(t)
	dir := t.TempDir()
	png := func(n int) string {
		b := make([]byte, n)
		copy(b, []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'})
		path := filepath.Join(dir, fmt.Sprintf("%d.png", n))
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	nowhere := []string{"--address", "127.0.0.1:1", "--dial-timeout", "1ms"}
	tests := []struct {
		name string
		args []string
		over bool
		want []string
	}{
		{"image at the limit", []string{"consensus", "--item", "a", "--max-image-bytes", "100", "--image", png(100)}, false, nil},
		{"image over the limit", []string{"consensus", "--item", "a", "--max-image-bytes", "100", "--image", png(101)}, true,
			[]string{"VALIDATION_FAILED", "image is 101 bytes", "limit of 100 bytes", "--max-image-bytes (INFERFLOW_MAX_IMAGE_BYTES)"}},
		{"prompt at the limit", []string{"inference", "--user", "u", "--job", "j", "--prompt-tokens", "1", "--max-prompt-bytes", "5", "--prompt", "12345"}, false, nil},
		{"prompt over the limit", []string{"inference", "--user", "u", "--job", "j", "--prompt-tokens", "1", "--max-prompt-bytes", "5", "--prompt", "123456"}, true,
			[]string{"VALIDATION_FAILED", "prompt is 6 bytes", "limit of 5 bytes", "--max-prompt-bytes (INFERFLOW_MAX_PROMPT_BYTES)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), append(tt.args, nowhere...), &out, &errOut)
			got := errOut.String() + out.String()
			if tt.over {
				if code != exitFailure {
					t.Fatalf("exit %d, want %d (refused): %s", code, exitFailure, got)
				}
				for _, w := range tt.want {
					if !strings.Contains(got, w) {
						t.Errorf("output %q does not say %q", got, w)
					}
				}
				return
			}
			if code != exitInfra || !strings.Contains(got, "cannot reach Temporal") {
				t.Fatalf("exit %d, want %d (passed the check, no Temporal): %s", code, exitInfra, got)
			}
		})
	}
}
