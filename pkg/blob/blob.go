// Package blob is the claim-check store for images
// (CONTRACT.md#consensus-inputs): the starter puts an image here and the
// workflow carries only a Ref (key, media type, size, SHA-256), so large
// payloads never travel through workflow history. Activities read the bytes
// back and verify them against the Ref.
//
// A backend in another module stores images with Dir (or anything with its
// Put method, see inferflow.BlobStore) in a folder the worker also reads.
//
// The store is a local folder, content-addressed by SHA-256: putting the same
// bytes twice is a no-op, and a worker on the same machine (or sharing the
// folder) reads what a starter wrote.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/inferflow/inferflow/wire"
)

// Ref points at a stored blob and says what it must contain; it travels in
// workflow input, so it is defined with the other wire types.
type Ref = wire.BlobRef

// Errors callers branch on.
var (
	ErrNotFound = errors.New("blob not found")
	ErrMismatch = errors.New("blob content does not match its reference")
	ErrBadRef   = wire.ErrBadBlobRef
)

// Dir stores blobs as files under Root.
type Dir struct {
	Root string
	// MaxSize bounds what Put accepts and Get reads; 0 means 20 MiB.
	MaxSize int64
}

const defaultMaxSize = 20 << 20

func (d Dir) maxSize() int64 {
	if d.MaxSize > 0 {
		return d.MaxSize
	}
	return defaultMaxSize
}

// Put stores data and returns its reference.
func (d Dir) Put(ctx context.Context, data []byte, mediaType string) (Ref, error) {
	if err := ctx.Err(); err != nil {
		return Ref{}, err
	}
	if len(data) == 0 {
		return Ref{}, fmt.Errorf("blob put: %w: empty data", ErrBadRef)
	}
	if int64(len(data)) > d.maxSize() {
		return Ref{}, fmt.Errorf("blob put: %w: %d bytes exceeds the %d byte limit", ErrBadRef, len(data), d.maxSize())
	}
	sum := sha256.Sum256(data)
	key := hex.EncodeToString(sum[:])
	ref := Ref{Key: key, MediaType: mediaType, Size: int64(len(data)), SHA256: key}
	path := d.path(key)
	if st, err := os.Stat(path); err == nil && st.Size() == ref.Size {
		return ref, nil // content-addressed: already there
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return Ref{}, fmt.Errorf("blob put: %w", err)
	}
	// Write then rename, so a reader never sees half a file.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".put-*")
	if err != nil {
		return Ref{}, fmt.Errorf("blob put: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return Ref{}, fmt.Errorf("blob put: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Ref{}, fmt.Errorf("blob put: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return Ref{}, fmt.Errorf("blob put: %w", err)
	}
	return ref, nil
}

// Get reads the blob ref points at and verifies its size and hash.
func (d Dir) Get(ctx context.Context, ref Ref) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ref.Validate(); err != nil {
		return nil, fmt.Errorf("blob get: %w", err)
	}
	if ref.Size > d.maxSize() {
		return nil, fmt.Errorf("blob get: %w: size %d exceeds the %d byte limit", ErrBadRef, ref.Size, d.maxSize())
	}
	data, err := os.ReadFile(d.path(ref.Key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob get %s: %w in %s", ref.Key, ErrNotFound, d.Root)
	}
	if err != nil {
		return nil, fmt.Errorf("blob get %s: %w", ref.Key, err)
	}
	sum := sha256.Sum256(data)
	if int64(len(data)) != ref.Size || hex.EncodeToString(sum[:]) != ref.SHA256 {
		return nil, fmt.Errorf("blob get %s: %w (got %d bytes)", ref.Key, ErrMismatch, len(data))
	}
	return data, nil
}

// path fans keys out over 256 folders so one folder never grows huge.
func (d Dir) path(key string) string {
	return filepath.Join(d.Root, key[:2], key)
}

// Section opens the blob ref points at for reading parts of it, checking
// its size but not its hash: reading a large file page by page, a caller
// verifies it once with Get and then reads sections of the same immutable,
// content-addressed file. The caller closes the returned file.
func (d Dir) Section(ctx context.Context, ref Ref) (*io.SectionReader, io.Closer, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err := ref.Validate(); err != nil {
		return nil, nil, fmt.Errorf("blob section: %w", err)
	}
	f, err := os.Open(d.path(ref.Key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("blob section %s: %w in %s", ref.Key, ErrNotFound, d.Root)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("blob section %s: %w", ref.Key, err)
	}
	st, err := f.Stat()
	if err != nil || st.Size() != ref.Size {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%w (got %d bytes)", ErrMismatch, st.Size())
		}
		return nil, nil, fmt.Errorf("blob section %s: %w", ref.Key, err)
	}
	return io.NewSectionReader(f, 0, st.Size()), f, nil
}
