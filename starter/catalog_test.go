package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/wire"
)

var updateCatalog = flag.Bool("update-catalog", false, "rewrite testdata/catalog from sampleCatalog")

// sampleCatalogDir is the shipped sample catalog (README, "Evaluate a
// catalog"): 200 items over a dozen small images.
const sampleCatalogDir = "../testdata/catalog"

// sampleCatalog makes the sample catalog: file name → bytes. Deterministic,
// so the files can be checked against it.
func sampleCatalog(t *testing.T) map[string][]byte {
	const items, images = 200, 12
	files := map[string][]byte{}
	for i := range images {
		img := image.NewPaletted(image.Rect(0, 0, 16, 16), color.Palette{
			color.RGBA{R: uint8(40 + 17*i), G: uint8(200 - 13*i), B: uint8(90 + 11*i), A: 255}, color.White})
		for p := range 16 * (i + 1) {
			img.SetColorIndex((p*7)%16, (p*3+i)%16, 1)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		files[fmt.Sprintf("img-%02d.png", i)] = buf.Bytes()
	}
	var lines bytes.Buffer
	enc := json.NewEncoder(&lines)
	for i := range items {
		it := inferflow.CatalogItem{ItemID: fmt.Sprintf("sample-%03d", i+1), Image: fmt.Sprintf("img-%02d.png", i%images)}
		if i%25 == 24 {
			it.Options = &wire.ConsensusOptions{EarlyCancel: true}
		}
		if err := enc.Encode(it); err != nil {
			t.Fatal(err)
		}
	}
	files["items.jsonl"] = lines.Bytes()
	return files
}

// The shipped catalog is what sampleCatalog makes (go test ./starter
// -run TestSampleCatalog -update-catalog rewrites it), and it is small.
func TestSampleCatalog(t *testing.T) {
	files := sampleCatalog(t)
	total := 0
	for name, want := range files {
		path := filepath.Join(sampleCatalogDir, name)
		if *updateCatalog {
			if err := os.MkdirAll(sampleCatalogDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from sampleCatalog; rewrite with -update-catalog", path)
		}
		total += len(got)
	}
	if total > 32<<10 {
		t.Errorf("sample catalog is %d bytes; keep it under 32 KiB", total)
	}
	entries, err := os.ReadDir(sampleCatalogDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(files) {
		t.Errorf("%s holds %d files, sampleCatalog %d", sampleCatalogDir, len(entries), len(files))
	}
}
