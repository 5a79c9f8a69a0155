package voice

// downsample24to16 appends src (24 kHz) resampled to 16 kHz to dst: a
// [1 2 1]/4 low-pass against aliasing, then two output samples for every
// three input samples by linear interpolation. Plenty for a voice that is
// band-limited already; chunk edges are handled per chunk (the model's
// deltas are tens of milliseconds long, so the seam is inaudible).
func downsample24to16(dst, src []int16) []int16 {
	at := func(i int) int32 {
		if i < 0 {
			i = 0
		}
		if i >= len(src) {
			i = len(src) - 1
		}
		return int32(src[i])
	}
	smooth := func(i int) int32 { return (at(i-1) + 2*at(i) + at(i+1)) / 4 }
	for n := 0; ; n++ {
		// Output sample n sits at input position 1.5n.
		i := n * 3 / 2
		if i >= len(src) {
			return dst
		}
		if n%2 == 0 {
			dst = append(dst, int16(smooth(i)))
		} else {
			dst = append(dst, int16((smooth(i)+smooth(i+1))/2))
		}
	}
}
