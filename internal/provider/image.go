package provider

import (
	"bytes"
	"errors"
	"fmt"
)

// Supported media types (CONTRACT.md#consensus-inputs).
const (
	MediaTypeJPEG = "image/jpeg"
	MediaTypePNG  = "image/png"
	MediaTypeWebP = "image/webp"
)

// Sentinels for image problems; DetectMediaType and Image.Validate wrap them
// in an *InvalidInputError.
var (
	ErrEmptyImage       = errors.New("image data is empty")
	ErrUnsupportedImage = errors.New("image format is not jpeg, png or webp")
)

// Image is an item image: raw bytes plus their declared media type.
type Image struct {
	MediaType string
	Data      []byte
}

var (
	magicJPEG = []byte{0xFF, 0xD8, 0xFF}
	magicPNG  = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}
)

// DetectMediaType identifies JPEG, PNG and WebP by their magic bytes. It
// does not trust file names or declared types, which clients often get wrong.
func DetectMediaType(data []byte) (string, error) {
	switch {
	case len(data) == 0:
		return "", &InvalidInputError{Field: "image", Reason: ErrEmptyImage.Error(), Err: ErrEmptyImage}
	case bytes.HasPrefix(data, magicJPEG):
		return MediaTypeJPEG, nil
	case bytes.HasPrefix(data, magicPNG):
		return MediaTypePNG, nil
	case len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return MediaTypeWebP, nil
	}
	return "", &InvalidInputError{Field: "image", Reason: ErrUnsupportedImage.Error(), Err: ErrUnsupportedImage}
}

// SupportedMediaType reports whether mt is one of the three accepted types.
func SupportedMediaType(mt string) bool {
	return mt == MediaTypeJPEG || mt == MediaTypePNG || mt == MediaTypeWebP
}

// Validate checks that the image is non-empty, of a supported format, and
// that a declared media type matches the bytes (a mismatched data: URL is
// rejected by some servers, and hides client bugs). An empty MediaType is
// allowed: providers then use the detected one.
func (im Image) Validate() error {
	detected, err := DetectMediaType(im.Data)
	if err != nil {
		return err
	}
	if im.MediaType == "" {
		return nil
	}
	if !SupportedMediaType(im.MediaType) {
		return &InvalidInputError{Field: "image.mediaType",
			Reason: fmt.Sprintf("%q is not one of image/jpeg, image/png, image/webp", im.MediaType),
			Err:    ErrUnsupportedImage}
	}
	if im.MediaType != detected {
		return &InvalidInputError{Field: "image.mediaType",
			Reason: fmt.Sprintf("declared %s but the data is %s", im.MediaType, detected)}
	}
	return nil
}

// resolvedMediaType validates the image and returns its effective type.
func (im Image) resolvedMediaType() (string, error) {
	if err := im.Validate(); err != nil {
		return "", err
	}
	if im.MediaType != "" {
		return im.MediaType, nil
	}
	return DetectMediaType(im.Data)
}
