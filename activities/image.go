package activities

import (
	"context"

	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/wire"
)

// loadImage returns the image bytes, reading and verifying a blob reference.
func loadImage(ctx context.Context, im wire.Image, blobs blob.Dir) (provider.Image, error) {
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
