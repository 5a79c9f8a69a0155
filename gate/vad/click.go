package vad

// Clicks are impulses of a few milliseconds: within a 20 ms frame they sit in
// one or two 2 ms blocks that are far louder than the rest, while speech
// (even low-pitched voiced speech) spreads its energy over the frame. Blocks
// far above the frame's typical block are scaled down to it before the
// spectrum is taken, so a click neither triggers speech nor hides it.

const (
	clickBlock = 16 // 2 ms at 8 kHz
	clickRatio = 12 // block energy over the frame's 40th percentile block
	// maxClickBlocks is the longest burst still taken for a click (6 ms).
	maxClickBlocks = 3
)

type clickSuppressor struct {
	e      [maxAnalysis / clickBlock]float32
	sorted [maxAnalysis / clickBlock]float32
}

// apply suppresses click blocks in x in place and reports how many it hit.
func (c *clickSuppressor) apply(x []float32) int {
	nb := len(x) / clickBlock
	if nb < 4 {
		return 0
	}
	for b := 0; b < nb; b++ {
		var acc float32
		for _, v := range x[b*clickBlock : (b+1)*clickBlock] {
			acc += v * v
		}
		c.e[b] = acc
		// insertion sort: at most 16 blocks
		j := b
		for j > 0 && c.sorted[j-1] > acc {
			c.sorted[j] = c.sorted[j-1]
			j--
		}
		c.sorted[j] = acc
	}
	ref := c.sorted[nb*2/5] + 1e-12
	// A sound that is loud in more than a few blocks is sustained (a speech
	// onset inside the frame, say), not a click: leave it alone.
	hit := 0
	for b := 0; b < nb; b++ {
		if c.e[b] > clickRatio*ref {
			hit++
		}
	}
	if hit == 0 || hit > maxClickBlocks {
		return 0
	}
	for b := 0; b < nb; b++ {
		if c.e[b] > clickRatio*ref {
			g := sqrt32(ref / c.e[b])
			for i := b * clickBlock; i < (b+1)*clickBlock; i++ {
				x[i] *= g
			}
		}
	}
	return hit
}
