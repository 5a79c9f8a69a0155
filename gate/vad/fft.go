package vad

import "math"

// realFFT computes power spectra of real blocks of a fixed power-of-two size
// n through one complex FFT of size n/2, so a frame costs half a full FFT.
// All tables and scratch are allocated once.
type realFFT struct {
	n      int
	re, im []float32 // complex scratch, size n/2
	rev    []int32   // bit reversal for size n/2
	stRe   []float32 // per-stage twiddles: stage of size s at [s/2, s)
	stIm   []float32
	wRe    []float32 // split twiddles exp(-2πik/n), k <= n/2
	wIm    []float32
	// k0..k1 (inclusive) are the bins power computes; 0, 0 means all.
	k0, k1 int
}

func newRealFFT(n int) *realFFT {
	h := n / 2
	f := &realFFT{n: n, re: make([]float32, h), im: make([]float32, h), rev: make([]int32, h),
		stRe: make([]float32, h), stIm: make([]float32, h), wRe: make([]float32, h+1), wIm: make([]float32, h+1)}
	bits := 0
	for 1<<bits < h {
		bits++
	}
	for i := 0; i < h; i++ {
		r := 0
		for b := 0; b < bits; b++ {
			if i&(1<<b) != 0 {
				r |= 1 << (bits - 1 - b)
			}
		}
		f.rev[i] = int32(r)
	}
	for size := 2; size <= h; size <<= 1 {
		for j := 0; j < size/2; j++ {
			a := -2 * math.Pi * float64(j) / float64(size)
			f.stRe[size/2+j], f.stIm[size/2+j] = float32(math.Cos(a)), float32(math.Sin(a))
		}
	}
	for k := 0; k <= h; k++ {
		a := -2 * math.Pi * float64(k) / float64(n)
		f.wRe[k], f.wIm[k] = float32(math.Cos(a)), float32(math.Sin(a))
	}
	return f
}

// power writes |X_k|^2 for k = k0..k1 (all of 0..n/2 by default) of the
// real block x (len n) into out (len n/2+1); other bins are left alone.
func (f *realFFT) power(x []float32, out []float32) {
	h := f.n / 2
	re, im := f.re[:h], f.im[:h]
	x = x[:f.n]
	for i := 0; i < h; i++ {
		r := f.rev[i]
		re[r] = x[2*i]
		im[r] = x[2*i+1]
	}
	// Stages of size 2 and 4 have trivial twiddles (1 and -i): one radix-4
	// pass does both.
	for j := 0; j+3 < h; j += 4 {
		ar, ai := re[j], im[j]
		br, bi := re[j+1], im[j+1]
		cr, ci := re[j+2], im[j+2]
		dr, di := re[j+3], im[j+3]
		// size 2
		ar, br = ar+br, ar-br
		ai, bi = ai+bi, ai-bi
		cr, dr = cr+dr, cr-dr
		ci, di = ci+di, ci-di
		// size 4: twiddles 1 (for c) and -i (for d)
		re[j], re[j+2] = ar+cr, ar-cr
		im[j], im[j+2] = ai+ci, ai-ci
		// (-i)(dr + i di) = di - i dr
		re[j+1], re[j+3] = br+di, br-di
		im[j+1], im[j+3] = bi-dr, bi+dr
	}
	for size := 8; size <= h; size <<= 1 {
		half := size >> 1
		// this stage's twiddles exp(-2πij/size), j < half, stored contiguously
		wr, wi := f.stRe[half:size], f.stIm[half:size]
		for start := 0; start < h; start += size {
			ar, ai := re[start:start+half], im[start:start+half]
			br, bi := re[start+half:start+size], im[start+half:start+size]
			br, bi = br[:len(ar)], bi[:len(ar)]
			wr, wi := wr[:len(ar)], wi[:len(ar)]
			for j := range ar {
				tr := wr[j]*br[j] - wi[j]*bi[j]
				ti := wr[j]*bi[j] + wi[j]*br[j]
				br[j], bi[j] = ar[j]-tr, ai[j]-ti
				ar[j] += tr
				ai[j] += ti
			}
		}
	}
	out = out[:h+1]
	k0, k1 := f.k0, f.k1
	if k1 == 0 {
		k1 = h
	}
	for k := k0; k <= k1; k++ {
		a := k
		if a == h {
			a = 0
		}
		b := h - k
		if b == h {
			b = 0
		}
		ar, ai := re[a], im[a]
		br, bi := re[b], -im[b] // conj(Z[h-k])
		er, ei := (ar+br)*0.5, (ai+bi)*0.5
		// O = (a-b)/(2i) = -i(a-b)/2
		or, oi := (ai-bi)*0.5, -(ar-br)*0.5
		wr, wi := f.wRe[k], f.wIm[k]
		xr := er + wr*or - wi*oi
		xi := ei + wr*oi + wi*or
		out[k] = xr*xr + xi*xi
	}
}
