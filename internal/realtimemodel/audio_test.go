package realtimemodel

import (
	"math"
	"reflect"
	"testing"
)

// tone returns the amplitude of frequency hz in x (rate Hz) by a
// least-squares fit, and the RMS of what the fit leaves.
func tone(x []int16, rate, hz float64) (amp, resid float64) {
	var ss, sc, cc, ys, yc float64
	for i, v := range x {
		s, c := math.Sincos(2 * math.Pi * hz * float64(i) / rate)
		ss, sc, cc = ss+s*s, sc+s*c, cc+c*c
		ys, yc = ys+float64(v)*s, yc+float64(v)*c
	}
	det := ss*cc - sc*sc
	a, b := (ys*cc-yc*sc)/det, (yc*ss-ys*sc)/det
	var r float64
	for i, v := range x {
		s, c := math.Sincos(2 * math.Pi * hz * float64(i) / rate)
		d := float64(v) - a*s - b*c
		r += d * d
	}
	return math.Hypot(a, b), math.Sqrt(r / float64(len(x)))
}

func TestResampler16To24(t *testing.T) {
	const n = 16000
	tests := []struct {
		name    string
		hz      float64
		minGain float64
		maxGain float64
	}{
		{"300 Hz", 300, 0.99, 1.01},
		{"1 kHz", 1000, 0.99, 1.01},
		{"3.4 kHz", 3400, 0.97, 1.02},
		{"7.9 kHz is cut", 7900, 0, 0.6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tone16k(n, tc.hz) // amplitude 6000
			whole := NewResampler(InputRate, ServiceRate).Process(nil, in)
			if len(whole) != n*3/2 {
				t.Fatalf("%d samples out of %d, want %d", len(whole), n, n*3/2)
			}
			// Frame by frame, in odd sizes, gives the same stream.
			r := NewResampler(InputRate, ServiceRate)
			var framed []int16
			for i, sizes := 0, []int{1, 7, 320, 333, 2}; i < n; {
				k := min(sizes[len(framed)%len(sizes)], n-i)
				want := r.outLen(k)
				before := len(framed)
				framed = r.Process(framed, in[i:i+k])
				if len(framed)-before != want {
					t.Fatalf("outLen(%d) = %d, process gave %d", k, want, len(framed)-before)
				}
				i += k
			}
			if !reflect.DeepEqual(framed, whole) {
				t.Fatal("framed output differs from whole")
			}
			body := whole[100:] // past the filter's start-up
			amp, resid := tone(body, ServiceRate, tc.hz)
			gain := amp / 6000
			if gain < tc.minGain || gain > tc.maxGain {
				t.Fatalf("gain %.3f, want [%.2f, %.2f]", gain, tc.minGain, tc.maxGain)
			}
			if tc.minGain > 0 && resid > 0.01*6000 {
				t.Fatalf("residual %.1f: not a clean %v Hz tone", resid, tc.hz)
			}
			// The image of the tone at 16k-hz folds to 24k-(16k-hz); it must be
			// well below the tone.
			if tc.minGain > 0 {
				img, _ := tone(body, ServiceRate, 8000+tc.hz)
				if img > 0.01*amp {
					t.Fatalf("image at %v Hz is %.1f%% of the tone", 8000+tc.hz, 100*img/amp)
				}
			}
		})
	}
	// DC passes unchanged and full scale clips instead of wrapping.
	for _, v := range []int16{1000, -32768, 32767} {
		in := make([]int16, 400)
		for i := range in {
			in[i] = v
		}
		out := NewResampler(InputRate, ServiceRate).Process(nil, in)
		for i, o := range out[100:] {
			if d := int(o) - int(v); d < -1 || d > 1 {
				t.Fatalf("DC %d: sample %d is %d", v, i, o)
			}
		}
	}
}

func TestReplyIsVoicedSpeechLike(t *testing.T) {
	for _, seed := range []uint64{1, 2, 99} {
		for _, total := range []int{int(SamplesOf(MinReplyDuration)), 40000, int(SamplesOf(MaxReplyDuration))} {
			p := planReply(seed, total)
			if len(p.words) == 0 || len(p.syl) < len(p.words) {
				t.Fatalf("seed %d total %d: %d words, %d syllables", seed, total, len(p.words), len(p.syl))
			}
			pcm := make([]int16, total)
			// Render in uneven chunks, as the stream does.
			for from := 0; from < total; {
				k := min(777, total-from)
				p.render(pcm[from:from+k], from)
				from += k
			}
			end := 0
			for i, s := range p.syl {
				if s.start < end || s.start+s.length > total {
					t.Fatalf("syllable %d [%d,+%d) overlaps or passes %d", i, s.start, s.length, total)
				}
				for _, v := range pcm[end:s.start] { // gaps are silent
					if v != 0 {
						t.Fatalf("non-silent gap before syllable %d", i)
					}
				}
				end = s.start + s.length
				seg := pcm[s.start:end]
				var peak int
				for _, v := range seg {
					peak = max(peak, int(math.Abs(float64(v))))
				}
				if peak < 2000 || peak > replyLevel+1 {
					t.Fatalf("syllable %d peak %d", i, peak)
				}
				// Voiced: the autocorrelation peaks at the pitch period.
				f0 := float64(s.f0a+s.f0b) / 2
				mid := seg[len(seg)/4 : 3*len(seg)/4]
				best, bestLag := math.Inf(-1), 0
				for lag := ServiceRate / 320; lag <= ServiceRate/80; lag++ {
					var c float64
					for j := lag; j < len(mid); j++ {
						c += float64(mid[j]) * float64(mid[j-lag])
					}
					if c > best {
						best, bestLag = c, lag
					}
				}
				if got := float64(ServiceRate) / float64(bestLag); math.Abs(got-f0) > 0.1*f0 {
					t.Fatalf("syllable %d pitch %.0f Hz, planned %.0f Hz", i, got, f0)
				}
			}
		}
	}
}

func TestUsageArithmetic(t *testing.T) {
	tests := []struct {
		name            string
		input, output   int64 // samples at 24 kHz
		wantIn, wantOut int64
	}{
		{"nothing", 0, 0, 0, 0},
		{"one sample costs a token", 1, 1, 1, 1},
		{"1 s in, 1.3 s out", 24000, 31200, 10, 26},
		{"just over 1 s rounds up", 24001, 24001, 11, 21},
		{"2.5 s out", 48000, 60000, 20, 50},
		{"10 min in", 600 * 24000, 2400, 6000, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := SimUsage(tc.input, tc.output)
			if u.InputTokens != tc.wantIn || u.OutputTokens != tc.wantOut || u.TotalTokens != tc.wantIn+tc.wantOut ||
				u.InputTokenDetails.AudioTokens != tc.wantIn || u.OutputTokenDetails.AudioTokens != tc.wantOut ||
				u.InputTokenDetails.CachedTokens != 0 || u.OutputTokenDetails.TextTokens != 0 {
				t.Fatalf("SimUsage(%d, %d) = %+v %+v %+v", tc.input, tc.output, u, *u.InputTokenDetails, *u.OutputTokenDetails)
			}
		})
	}
	replies := []struct{ input, want int64 }{
		{0, 19200}, {1, 19200}, {24000, 31200}, {81600, 60000}, {81598, 59999}, {1 << 40, 60000},
	}
	for _, r := range replies {
		if got := ReplySamples(r.input); got != r.want {
			t.Fatalf("ReplySamples(%d) = %d, want %d", r.input, got, r.want)
		}
	}
}
