package blob

import (
	"context"
	"errors"
	"os"
	"testing"
)

func TestPutGetRoundTrip(t *testing.T) {
	ctx := context.Background()
	d := Dir{Root: t.TempDir()}
	ref, err := d.Put(ctx, []byte("png bytes"), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	again, err := d.Put(ctx, []byte("png bytes"), "image/png")
	if err != nil || again != ref {
		t.Fatalf("second put = %+v, %v; want the same ref", again, err)
	}
	got, err := d.Get(ctx, ref)
	if err != nil || string(got) != "png bytes" {
		t.Fatalf("get = %q, %v", got, err)
	}
}

func TestGetDetectsProblems(t *testing.T) {
	ctx := context.Background()
	d := Dir{Root: t.TempDir(), MaxSize: 64}
	ref, err := d.Put(ctx, []byte("original"), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	tampered := ref
	if err := os.WriteFile(d.path(ref.Key), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := ref
	missing.Key = "ab" + ref.Key[2:]
	tests := []struct {
		name string
		ref  Ref
		want error
	}{
		{"tampered content", tampered, ErrMismatch},
		{"missing", missing, ErrNotFound},
		{"bad key", Ref{Key: "../../etc/passwd", SHA256: ref.SHA256, Size: 1, MediaType: "image/png"}, ErrBadRef},
		{"zero size", Ref{Key: ref.Key, SHA256: ref.SHA256, MediaType: "image/png"}, ErrBadRef},
		{"too big", Ref{Key: ref.Key, SHA256: ref.SHA256, Size: 1 << 30, MediaType: "image/png"}, ErrBadRef},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := d.Get(ctx, tt.ref); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPutRejectsEmptyAndOversized(t *testing.T) {
	d := Dir{Root: t.TempDir(), MaxSize: 4}
	for _, data := range [][]byte{nil, []byte("12345")} {
		if _, err := d.Put(context.Background(), data, "image/png"); !errors.Is(err, ErrBadRef) {
			t.Errorf("Put(%d bytes) err = %v", len(data), err)
		}
	}
}
