package provider

import (
	"bytes"
	"crypto/sha256"
	"hash/maphash"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"sync"
)

// imageStats are content statistics in [0, 1] that drive the offline
// valuation. decoded tells pixel statistics from byte statistics.
type imageStats struct {
	lum      float64 // mean luminance
	contrast float64 // luminance standard deviation, scaled
	colour   float64 // Hasler–Süsstrunk colourfulness, scaled
	edge     float64 // mean neighbour luminance difference, scaled
	decoded  bool
	digest   [sha256.Size]byte
}

const (
	sampleGrid = 64 // at most 64×64 sampled pixels: statistics, not vision
	// maxDecodePixels guards against decompression bombs; bigger images
	// fall back to byte statistics.
	maxDecodePixels = 40_000_000
)

// featureCache memoises statistics by content: activities retry and the
// three vision slots share one image, so an image is decoded once. The key
// is two independently seeded maphashes plus the length (128 bits, an order
// of magnitude faster than SHA-256); the SHA-256 digest that feeds the
// valuation is computed only on a miss.
type featureCache struct {
	seeds [2]maphash.Seed
	mu    sync.Mutex
	max   int
	m     map[cacheKey]imageStats
}

type cacheKey struct {
	h1, h2 uint64
	n      int
	mt     string
}

func newFeatureCache(n int) *featureCache {
	return &featureCache{
		seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		max:   n,
		m:     make(map[cacheKey]imageStats),
	}
}

func (c *featureCache) get(data []byte, mediaType string) imageStats {
	k := cacheKey{maphash.Bytes(c.seeds[0], data), maphash.Bytes(c.seeds[1], data), len(data), mediaType}
	c.mu.Lock()
	f, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return f
	}
	f = computeStats(data, mediaType)
	f.digest = sha256.Sum256(data)
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m) // crude but bounded; hits are what matter
	}
	c.m[k] = f
	c.mu.Unlock()
	return f
}

func computeStats(data []byte, mediaType string) imageStats {
	var decode func([]byte) (image.Image, error)
	var decodeConfig func([]byte) (image.Config, error)
	switch mediaType {
	case MediaTypeJPEG:
		decode = func(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) }
		decodeConfig = func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) }
	case MediaTypePNG:
		decode = func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) }
		decodeConfig = func(b []byte) (image.Config, error) { return png.DecodeConfig(bytes.NewReader(b)) }
	default: // webp has no stdlib decoder
		return byteStats(data)
	}
	cfg, err := decodeConfig(data)
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxDecodePixels {
		return byteStats(data)
	}
	img, err := decode(data)
	if err != nil {
		return byteStats(data)
	}
	return pixelStats(img)
}

func pixelStats(img image.Image) imageStats {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	nx, ny := min(w, sampleGrid), min(h, sampleGrid)
	lum := make([]float64, nx*ny)
	var sumL, sumL2, sumRG, sumRG2, sumYB, sumYB2 float64
	for j := range ny {
		y := b.Min.Y + j*h/ny
		for i := range nx {
			x := b.Min.X + i*w/nx
			r16, g16, b16, _ := img.At(x, y).RGBA()
			r, g, bl := float64(r16)/257, float64(g16)/257, float64(b16)/257
			l := (0.2126*r + 0.7152*g + 0.0722*bl) / 255
			lum[j*nx+i] = l
			sumL += l
			sumL2 += l * l
			rg, yb := r-g, 0.5*(r+g)-bl
			sumRG += rg
			sumRG2 += rg * rg
			sumYB += yb
			sumYB2 += yb * yb
		}
	}
	n := float64(nx * ny)
	meanL := sumL / n
	stdL := math.Sqrt(math.Max(0, sumL2/n-meanL*meanL))
	mRG, mYB := sumRG/n, sumYB/n
	sRG := math.Sqrt(math.Max(0, sumRG2/n-mRG*mRG))
	sYB := math.Sqrt(math.Max(0, sumYB2/n-mYB*mYB))
	colourfulness := math.Hypot(sRG, sYB) + 0.3*math.Hypot(mRG, mYB)

	var edgeSum float64
	var edges int
	for j := range ny {
		for i := range nx {
			l := lum[j*nx+i]
			if i+1 < nx {
				edgeSum += math.Abs(l - lum[j*nx+i+1])
				edges++
			}
			if j+1 < ny {
				edgeSum += math.Abs(l - lum[(j+1)*nx+i])
				edges++
			}
		}
	}
	edge := 0.0
	if edges > 0 {
		edge = edgeSum / float64(edges)
	}
	return imageStats{
		lum:      meanL,
		contrast: clamp01(stdL * 2), // std of a 0/1 image is 0.5
		colour:   clamp01(colourfulness / 150),
		edge:     clamp01(edge * 4),
		decoded:  true,
	}
}

// byteStats stands in for pixels when the image cannot be decoded (webp,
// corrupt or oversized data): mean byte, byte entropy and byte-to-byte
// variation of the compressed stream, sampled evenly.
func byteStats(data []byte) imageStats {
	body := data
	if len(body) > 32 {
		body = body[32:] // skip most of the container header, same for every image
	}
	const maxSamples = 1 << 16
	step := max(1, len(body)/maxSamples)
	var hist [256]int
	var sum, diff float64
	var n int
	prev := -1
	for i := 0; i < len(body); i += step {
		v := int(body[i])
		hist[v]++
		sum += float64(v)
		if prev >= 0 {
			diff += math.Abs(float64(v - prev))
		}
		prev = v
		n++
	}
	if n == 0 {
		return imageStats{lum: 0.5}
	}
	var entropy float64
	for _, c := range hist {
		if c > 0 {
			p := float64(c) / float64(n)
			entropy -= p * math.Log2(p)
		}
	}
	mean := sum / float64(n) / 255
	var meanDiff float64
	if n > 1 {
		meanDiff = diff / float64(n-1) / 255
	}
	return imageStats{
		lum:      mean,
		contrast: clamp01(entropy / 8),
		colour:   clamp01(entropy / 8 * 0.8),
		edge:     clamp01(meanDiff * 3),
	}
}
