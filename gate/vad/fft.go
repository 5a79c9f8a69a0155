package vad

import "math"

// realFFT computes power spectra of real blocks of a fixed power-of-two size
// n through one complex FFT of size n/2, so a frame costs half a full FFT.
// The complex FFT is decimation in time on bit-reversed input, run as
// radix-4 passes (one radix-2 pass last when log2(n/2) is odd): a radix-4
// butterfly needs three complex multiplies for four outputs where two
// radix-2 stages need four, and each pass reads and writes the data once.
// All tables and scratch are allocated once.
type realFFT struct {
	n        int
	re, im   []float32 // complex scratch, size n/2
	rev      []int32   // bit reversal for size n/2
	passes   []fftPass
	wRe, wIm []float32 // split twiddles exp(-2πik/n), k <= n/2
	// k0..k1 (inclusive) are the bins power computes; 0, 0 means all.
	k0, k1 int
}

// fftPass is one pass of the complex FFT: it turns sub-transforms of size
// size/radix into transforms of size size. Its twiddles W^j, W^2j, W^3j
// (W = exp(-2πi/size)), j < size/radix, are stored contiguously.
type fftPass struct {
	size, radix        int
	w1r, w1i, w2r, w2i []float32
	w3r, w3i           []float32
}

func newRealFFT(n int) *realFFT {
	h := n / 2
	f := &realFFT{n: n, re: make([]float32, h), im: make([]float32, h), rev: make([]int32, h),
		wRe: make([]float32, h+1), wIm: make([]float32, h+1)}
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
	tw := func(m, size int) ([]float32, []float32) {
		q := size / 4
		if q < 1 {
			q = 1
		}
		re, im := make([]float32, q), make([]float32, q)
		for j := range re {
			a := -2 * math.Pi * float64(m*j) / float64(size)
			re[j], im[j] = float32(math.Cos(a)), float32(math.Sin(a))
		}
		return re, im
	}
	for size := 1; size < h; {
		if size*4 <= h {
			size *= 4
			p := fftPass{size: size, radix: 4}
			p.w1r, p.w1i = tw(1, size)
			p.w2r, p.w2i = tw(2, size)
			p.w3r, p.w3i = tw(3, size)
			f.passes = append(f.passes, p)
		} else {
			size *= 2
			p := fftPass{size: size, radix: 2}
			p.w1r, p.w1i = make([]float32, size/2), make([]float32, size/2)
			for j := range p.w1r {
				a := -2 * math.Pi * float64(j) / float64(size)
				p.w1r[j], p.w1i[j] = float32(math.Cos(a)), float32(math.Sin(a))
			}
			f.passes = append(f.passes, p)
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
func (f *realFFT) power(x []float32, out []float32) { f.windowedPower(x, nil, out) }

// windowedPower is power of the block x·win zero-padded to n: x and win
// (nil: no window) have the same length, at most n.
func (f *realFFT) windowedPower(x, win []float32, out []float32) {
	h := f.n / 2
	re, im := f.re[:h], f.im[:h]
	rev := f.rev[:h]
	m := len(x)
	if win != nil {
		win = win[:m]
	}
	// Load even samples into re, odd into im, in bit-reversed order,
	// windowed and zero-padded on the fly.
	if m > f.n {
		m = f.n
	}
	pairs := m / 2
	x = x[:2*pairs]
	if win != nil {
		w := win[:2*pairs]
		for i := 0; i < pairs; i++ {
			r := rev[i]
			re[r], im[r] = x[2*i]*w[2*i], x[2*i+1]*w[2*i+1]
		}
	} else {
		for i := 0; i < pairs; i++ {
			r := rev[i]
			re[r], im[r] = x[2*i], x[2*i+1]
		}
	}
	if m%2 == 1 {
		v := x[:m][m-1]
		if win != nil {
			v *= win[m-1]
		}
		r := rev[pairs]
		re[r], im[r] = v, 0
		pairs++
	}
	for i := pairs; i < h; i++ {
		r := rev[i]
		re[r], im[r] = 0, 0
	}
	for pi := range f.passes {
		p := &f.passes[pi]
		if p.radix == 4 {
			radix4(re, im, p)
		} else {
			radix2(re, im, p)
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

// radix4 combines, in every block of p.size, the four sub-transforms of
// size q = p.size/4 held in bit-reversed order (indices ≡ 0, 2, 1, 3 mod 4).
func radix4(re, im []float32, p *fftPass) {
	q := p.size / 4
	if q == 1 {
		radix4First(re, im)
		return
	}
	w1r, w1i := p.w1r[:q], p.w1i[:q]
	w2r, w2i := p.w2r[:q], p.w2i[:q]
	w3r, w3i := p.w3r[:q], p.w3i[:q]
	for s := 0; s+p.size <= len(re); s += p.size {
		ar, ai := re[s:s+q], im[s:s+q]
		br, bi := re[s+q:s+2*q], im[s+q:s+2*q]
		cr, ci := re[s+2*q:s+3*q], im[s+2*q:s+3*q]
		dr, di := re[s+3*q:s+4*q], im[s+3*q:s+4*q]
		br, bi, cr, ci, dr, di = br[:q], bi[:q], cr[:q], ci[:q], dr[:q], di[:q]
		ai = ai[:q]
		for j := range ar {
			// b·W^2j (the ≡2 sub-transform), c·W^j, d·W^3j
			xr, xi := ar[j], ai[j]
			yr := br[j]*w2r[j] - bi[j]*w2i[j]
			yi := br[j]*w2i[j] + bi[j]*w2r[j]
			zr := cr[j]*w1r[j] - ci[j]*w1i[j]
			zi := cr[j]*w1i[j] + ci[j]*w1r[j]
			ur := dr[j]*w3r[j] - di[j]*w3i[j]
			ui := dr[j]*w3i[j] + di[j]*w3r[j]
			s0r, s0i := xr+yr, xi+yi
			d0r, d0i := xr-yr, xi-yi
			s1r, s1i := zr+ur, zi+ui
			d1r, d1i := zr-ur, zi-ui
			// X[j] = s0+s1, X[j+2q] = s0-s1,
			// X[j+q] = d0 - i·d1, X[j+3q] = d0 + i·d1
			ar[j], ai[j] = s0r+s1r, s0i+s1i
			cr[j], ci[j] = s0r-s1r, s0i-s1i
			br[j], bi[j] = d0r+d1i, d0i-d1r
			dr[j], di[j] = d0r-d1i, d0i+d1r
		}
	}
}

// radix2 is one radix-2 pass of size p.size.
func radix2(re, im []float32, p *fftPass) {
	half := p.size / 2
	wr, wi := p.w1r[:half], p.w1i[:half]
	for s := 0; s+p.size <= len(re); s += p.size {
		ar, ai := re[s:s+half], im[s:s+half]
		br, bi := re[s+half:s+p.size], im[s+half:s+p.size]
		br, bi, ai = br[:len(ar)], bi[:len(ar)], ai[:len(ar)]
		for j := range ar {
			tr := wr[j]*br[j] - wi[j]*bi[j]
			ti := wr[j]*bi[j] + wi[j]*br[j]
			br[j], bi[j] = ar[j]-tr, ai[j]-ti
			ar[j] += tr
			ai[j] += ti
		}
	}
}

// radix4First is the first radix-4 pass (size 4), whose twiddles are 1.
func radix4First(re, im []float32) {
	im = im[:len(re)]
	for j := 0; j+3 < len(re); j += 4 {
		ar, ai := re[j], im[j]
		br, bi := re[j+1], im[j+1]
		cr, ci := re[j+2], im[j+2]
		dr, di := re[j+3], im[j+3]
		s0r, s0i := ar+br, ai+bi
		d0r, d0i := ar-br, ai-bi
		s1r, s1i := cr+dr, ci+di
		d1r, d1i := cr-dr, ci-di
		re[j], im[j] = s0r+s1r, s0i+s1i
		re[j+2], im[j+2] = s0r-s1r, s0i-s1i
		re[j+1], im[j+1] = d0r+d1i, d0i-d1r
		re[j+3], im[j+3] = d0r-d1i, d0i+d1r
	}
}
