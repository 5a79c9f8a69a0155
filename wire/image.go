package wire

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
)

// Supported image media types.
const (
	MediaTypeJPEG = "image/jpeg"
	MediaTypePNG  = "image/png"
	MediaTypeWebP = "image/webp"
)

// MaxInlineImageBytes bounds images carried inside workflow input. Anything
// bigger goes through the blob store (claim check) so history stays small.
const MaxInlineImageBytes = 256 << 10

// Image is an item image as it travels through a workflow: either inline
// bytes (small images, e.g. from `temporal workflow start`) or a reference
// into the blob store with its media type, size and SHA-256.
type Image struct {
	MediaType string   `json:"mediaType"`
	Data      []byte   `json:"data,omitempty"`
	Ref       *BlobRef `json:"ref,omitempty"`
}

// Check validates what can be validated without I/O: it is pure, so the
// workflow runs it before any activity. Inline bytes are checked against
// their magic bytes; a reference is checked for shape (its bytes are
// verified by the VerifyImage activity and by every activity that reads them).
// A failure is a *FieldError naming the field under "image".
func (im Image) Check() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if !SupportedMediaType(im.MediaType) {
		return bad("image.mediaType", "%q: want image/jpeg, image/png or image/webp", im.MediaType)
	}
	switch {
	case im.Ref != nil && len(im.Data) > 0:
		return bad("image", "give either data or ref, not both")
	case im.Ref != nil:
		if err := im.Ref.Validate(); err != nil {
			return bad("image.ref", "%v", err)
		}
		if im.Ref.MediaType != im.MediaType {
			return bad("image.ref.mediaType", "%q differs from image.mediaType %q", im.Ref.MediaType, im.MediaType)
		}
		return nil
	case len(im.Data) == 0:
		return bad("image.data", "must not be empty")
	case len(im.Data) > MaxInlineImageBytes:
		return bad("image.data", "is %d bytes, over the %d byte inline limit: store it in the blob store (the starter does) and pass a ref", len(im.Data), MaxInlineImageBytes)
	}
	detected, err := DetectMediaType(im.Data)
	if err != nil {
		return bad("image.data", "%v", err)
	}
	if detected != im.MediaType {
		return bad("image.mediaType", "declared %s but the data is %s", im.MediaType, detected)
	}
	return nil
}

// SupportedMediaType reports whether mt is one of the three accepted types.
func SupportedMediaType(mt string) bool {
	return mt == MediaTypeJPEG || mt == MediaTypePNG || mt == MediaTypeWebP
}

var (
	magicJPEG = []byte{0xFF, 0xD8, 0xFF}
	magicPNG  = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}
)

// Sentinels DetectMediaType wraps.
var (
	ErrEmptyImage       = errors.New("image data is empty")
	ErrUnsupportedImage = errors.New("image format is not jpeg, png or webp")
)

// DetectMediaType identifies JPEG, PNG and WebP by their magic bytes; it does
// not trust file names or declared types, which clients often get wrong.
func DetectMediaType(data []byte) (string, error) {
	switch {
	case len(data) == 0:
		return "", ErrEmptyImage
	case bytes.HasPrefix(data, magicJPEG):
		return MediaTypeJPEG, nil
	case bytes.HasPrefix(data, magicPNG):
		return MediaTypePNG, nil
	case len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return MediaTypeWebP, nil
	}
	return "", ErrUnsupportedImage
}

// BlobRef points at a blob in the claim-check store (package blob) and says
// what it must contain.
type BlobRef struct {
	Key       string `json:"key"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
}

// ErrBadBlobRef: a reference that cannot point at a stored blob.
var ErrBadBlobRef = errors.New("invalid blob reference")

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Validate checks the reference's shape without touching storage.
func (r BlobRef) Validate() error {
	switch {
	case !sha256Hex.MatchString(r.Key):
		return fmt.Errorf("%w: key %q is not a lowercase hex SHA-256", ErrBadBlobRef, r.Key)
	case !sha256Hex.MatchString(r.SHA256):
		return fmt.Errorf("%w: sha256 %q is not lowercase hex", ErrBadBlobRef, r.SHA256)
	case r.Size <= 0:
		return fmt.Errorf("%w: size %d must be positive", ErrBadBlobRef, r.Size)
	case r.MediaType == "":
		return fmt.Errorf("%w: media type is empty", ErrBadBlobRef)
	}
	return nil
}
