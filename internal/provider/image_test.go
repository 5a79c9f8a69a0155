package provider

import (
	"errors"
	"testing"
)

func TestDetectMediaType(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		want    string
		wantErr error
	}{
		{"png file", readTestdata(t, "checker.png"), MediaTypePNG, nil},
		{"jpeg file", readTestdata(t, "checker.jpg"), MediaTypeJPEG, nil},
		{"webp file", readTestdata(t, "tiny.webp"), MediaTypeWebP, nil},
		{"empty", nil, "", ErrEmptyImage},
		{"gif", []byte("GIF89a\x01\x00\x01\x00"), "", ErrUnsupportedImage},
		{"riff but wave", []byte("RIFF\x00\x00\x00\x00WAVEfmt "), "", ErrUnsupportedImage},
		{"truncated riff", []byte("RIFF\x00\x00"), "", ErrUnsupportedImage},
		{"two jpeg bytes", []byte{0xFF, 0xD8}, "", ErrUnsupportedImage},
		{"text", []byte("hello"), "", ErrUnsupportedImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DetectMediaType(tt.data)
			if got != tt.want {
				t.Errorf("type = %q, want %q", got, tt.want)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				var ie *InvalidInputError
				if !errors.As(err, &ie) || CodeOf(err) != CodeInvalidInput {
					t.Errorf("err %v is not an INVALID_INPUT *InvalidInputError", err)
				}
			}
		})
	}
}

func TestImageValidate(t *testing.T) {
	png := readTestdata(t, "checker.png")
	tests := []struct {
		name string
		img  Image
		ok   bool
	}{
		{"declared matches", Image{MediaType: MediaTypePNG, Data: png}, true},
		{"undeclared is detected", Image{Data: png}, true},
		{"declared mismatch", Image{MediaType: MediaTypeJPEG, Data: png}, false},
		{"unsupported declared", Image{MediaType: "image/gif", Data: png}, false},
		{"empty", Image{MediaType: MediaTypePNG}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.img.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
