package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/inferflow/inferflow/internal/blob"
	"github.com/inferflow/inferflow/internal/provider"
)

// MaxInlineImageBytes bounds images carried inside workflow input. Anything
// bigger goes through the blob store (claim check) so history stays small.
const MaxInlineImageBytes = 256 << 10

// Image is an item image as it travels through a workflow: either inline
// bytes (small images, e.g. from `temporal workflow start`) or a reference
// into the blob store with its media type, size and SHA-256.
type Image struct {
	MediaType string    `json:"mediaType"`
	Data      []byte    `json:"data,omitempty"`
	Ref       *blob.Ref `json:"ref,omitempty"`
}

// Check validates what can be validated without I/O: it is pure, so the
// workflow runs it before any activity. Inline bytes are checked against
// their magic bytes; a reference is checked for shape (its bytes are
// verified by VerifyImage and by every activity that reads them).
func (im Image) Check() error {
	if !provider.SupportedMediaType(im.MediaType) {
		return fmt.Errorf("image mediaType %q: want image/jpeg, image/png or image/webp", im.MediaType)
	}
	switch {
	case im.Ref != nil && len(im.Data) > 0:
		return errors.New("image: give either data or ref, not both")
	case im.Ref != nil:
		if err := im.Ref.Validate(); err != nil {
			return fmt.Errorf("image ref: %w", err)
		}
		if im.Ref.MediaType != im.MediaType {
			return fmt.Errorf("image ref media type %q differs from mediaType %q", im.Ref.MediaType, im.MediaType)
		}
		return nil
	case len(im.Data) == 0:
		return errors.New("image data must not be empty")
	case len(im.Data) > MaxInlineImageBytes:
		return fmt.Errorf("inline image is %d bytes, over the %d byte limit: store it in the blob store (the starter does) and pass a ref", len(im.Data), MaxInlineImageBytes)
	}
	return provider.Image{MediaType: im.MediaType, Data: im.Data}.Validate()
}

// load returns the image bytes, reading and verifying a blob reference.
func (im Image) load(ctx context.Context, blobs blob.Dir) (provider.Image, error) {
	if im.Ref == nil {
		return provider.Image{MediaType: im.MediaType, Data: im.Data}, nil
	}
	data, err := blobs.Get(ctx, *im.Ref)
	if err != nil {
		return provider.Image{}, err
	}
	out := provider.Image{MediaType: im.MediaType, Data: data}
	if err := out.Validate(); err != nil {
		return provider.Image{}, err
	}
	return out, nil
}
