package realtimemodel

import (
	"math"
	"strings"
	"sync"
	"time"
)

// The simulator's reply length and usage are fixed functions of the audio,
// so tests and billing can predict them.
const (
	// InputAudioTokensPerSecond: input tokens per second of committed audio.
	InputAudioTokensPerSecond = 10
	// OutputAudioTokensPerSecond: output tokens per second of reply audio.
	OutputAudioTokensPerSecond = 20
	// MinReplyDuration and MaxReplyDuration bound a reply; in between it
	// is MinReplyDuration plus half the user turn (see ReplySamples).
	MinReplyDuration = 800 * time.Millisecond
	MaxReplyDuration = 2500 * time.Millisecond
)

// AudioTokens is the token count of samples at ServiceRate at perSecond
// tokens per second, rounded up (any audio costs at least one token).
func AudioTokens(samples, perSecond int64) int64 {
	if samples <= 0 || perSecond <= 0 {
		return 0
	}
	return (samples*perSecond + ServiceRate - 1) / ServiceRate
}

// SamplesOf is d at ServiceRate, rounded down.
func SamplesOf(d time.Duration) int64 {
	return int64(d) * ServiceRate / int64(time.Second)
}

// ReplySamples is the simulator's reply length at ServiceRate for a user
// turn of input samples at ServiceRate: MinReplyDuration + input/2, at most
// MaxReplyDuration.
func ReplySamples(input int64) int64 {
	lo, hi := SamplesOf(MinReplyDuration), SamplesOf(MaxReplyDuration)
	if input <= 0 {
		return lo
	}
	return min(lo+input/2, hi)
}

// SimUsage is the usage the simulator reports for a response that consumed
// input samples and produced output samples (both at ServiceRate). All
// tokens are audio tokens; none are cached.
func SimUsage(input, output int64) Usage {
	in := AudioTokens(input, InputAudioTokensPerSecond)
	out := AudioTokens(output, OutputAudioTokensPerSecond)
	return Usage{
		TotalTokens:        in + out,
		InputTokens:        in,
		OutputTokens:       out,
		InputTokenDetails:  &InputTokenDetails{AudioTokens: in},
		OutputTokenDetails: &OutputTokenDetails{AudioTokens: out},
	}
}

// ---- speech-like synthesis ----

// Vowels are one-period wavetables: harmonics of a glottal-like source
// shaped by the first three formants of a, e, i, o, u. A syllable glides
// between two vowels at a slowly falling pitch under a smooth envelope,
// which reads as voiced speech to a VAD and to the ear.
const (
	tableSize  = 1024
	tableF0    = 150.0 // Hz the tables are built for; harmonics stay below Nyquist up to 300 Hz
	harmonics  = 30
	replyLevel = 9000.0 // peak amplitude, about -11 dBFS
)

var formants = [...][3]float64{
	{730, 1090, 2440}, // a
	{530, 1840, 2480}, // e
	{270, 2290, 3010}, // i
	{570, 840, 2410},  // o
	{300, 870, 2240},  // u
}

var vowelTables = sync.OnceValue(func() [][]float32 {
	tabs := make([][]float32, len(formants))
	for v, fm := range formants {
		amp := make([]float64, harmonics+1)
		for k := 1; k <= harmonics; k++ {
			f := float64(k) * tableF0
			var g float64
			for i, F := range fm {
				bw := 80.0 + 40*float64(i)
				g += (1 - 0.3*float64(i)) / (1 + ((f-F)/bw)*((f-F)/bw))
			}
			amp[k] = (0.1 + g) / float64(k)
		}
		tab := make([]float32, tableSize+1) // +1: guard for interpolation
		var peak float64
		vals := make([]float64, tableSize)
		for i := range vals {
			th := 2 * math.Pi * float64(i) / tableSize
			var s float64
			for k := 1; k <= harmonics; k++ {
				s += amp[k] * math.Sin(float64(k)*th)
			}
			vals[i] = s
			peak = max(peak, math.Abs(s))
		}
		for i, s := range vals {
			tab[i] = float32(s / peak)
		}
		tab[tableSize] = tab[0]
		tabs[v] = tab
	}
	return tabs
})

// vocabulary of the transcript, with syllable counts.
var vocabulary = [...]struct {
	text string
	syl  int
}{
	{"sure", 1}, {"I", 1}, {"can", 1}, {"help", 1}, {"with", 1}, {"that", 1},
	{"today", 2}, {"hello", 2}, {"okay", 2}, {"let", 1}, {"me", 1}, {"check", 1},
	{"thanks", 1}, {"for", 1}, {"asking", 2}, {"the", 1}, {"answer", 2}, {"is", 1},
	{"yes", 1}, {"really", 2}, {"good", 1}, {"question", 2}, {"perfect", 2},
	{"understood", 3}, {"of", 1}, {"course", 1}, {"one", 1}, {"moment", 2},
	{"here", 1}, {"it", 1}, {"comes", 1}, {"right", 1}, {"away", 2}, {"again", 2},
}

type syllable struct {
	start, length int // samples at ServiceRate
	v1, v2        int // vowels glided between
	f0a, f0b      float32
}

type word struct {
	start int    // sample of its first syllable
	text  string // as sent in the transcript delta (with leading space)
}

// reply is a planned spoken-like reply and the synthesis state of its
// stream.
type reply struct {
	total int
	syl   []syllable
	words []word
	cur   int     // syllable being rendered
	phase float32 // in table samples
}

// rng is splitmix64: tiny, deterministic across Go versions.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// between returns a value in [lo, hi).
func (r *rng) between(lo, hi int) int { return lo + int(r.next()%uint64(hi-lo)) }

func ms(n int) int { return n * ServiceRate / 1000 }

// planReply lays out syllables and words over total samples.
func planReply(seed uint64, total int) *reply {
	r := rng(seed)
	p := &reply{total: total}
	base := float32(r.between(105, 185))
	tail := ms(40) // silence at the end
	pos := ms(r.between(20, 60))
	for {
		w := vocabulary[r.next()%uint64(len(vocabulary))]
		placed := false
		for range w.syl {
			if pos+ms(120) > total-tail {
				break
			}
			n := min(ms(r.between(150, 250)), total-tail-pos)
			f0 := base * (1.08 - 0.16*float32(pos)/float32(total)) * (0.97 + 0.06*float32(r.next()%1000)/1000)
			s := syllable{start: pos, length: n, v1: r.between(0, len(formants)), v2: r.between(0, len(formants)),
				f0a: f0, f0b: f0 * (0.95 + 0.08*float32(r.next()%1000)/1000)}
			if !placed {
				text := w.text
				if len(p.words) == 0 {
					text = strings.ToUpper(text[:1]) + text[1:]
				} else {
					text = " " + text
				}
				p.words = append(p.words, word{start: pos, text: text})
				placed = true
			}
			p.syl = append(p.syl, s)
			pos += n + ms(r.between(15, 35))
		}
		if !placed {
			break
		}
		pos += ms(r.between(50, 110))
	}
	if n := len(p.words); n > 0 {
		p.words[n-1].text += "."
	}
	return p
}

// render writes samples [from, from+len(dst)) of the reply; calls must
// follow each other without gaps.
func (p *reply) render(dst []int16, from int) {
	tabs := vowelTables()
	for i := range dst {
		n := from + i
		for p.cur < len(p.syl) && n >= p.syl[p.cur].start+p.syl[p.cur].length {
			p.cur++
		}
		if p.cur == len(p.syl) || n < p.syl[p.cur].start {
			dst[i] = 0
			continue
		}
		s := &p.syl[p.cur]
		t := float32(n-s.start) / float32(s.length)
		f0 := s.f0a + (s.f0b-s.f0a)*t
		p.phase += f0 * tableSize / ServiceRate
		if p.phase >= tableSize {
			p.phase -= tableSize
		}
		j := int(p.phase)
		fr := p.phase - float32(j)
		a, b := tabs[s.v1], tabs[s.v2]
		va := a[j] + (a[j+1]-a[j])*fr
		vb := b[j] + (b[j+1]-b[j])*fr
		v := va + (vb-va)*t
		dst[i] = int16(replyLevel * v * envelope(n-s.start, s.length))
	}
}

// envelope is a smooth attack and release over a syllable of length n.
func envelope(i, n int) float32 {
	att, rel := min(ms(25), n/3), min(ms(60), n/3)
	var x float32 = 1
	switch {
	case i < att:
		x = float32(i) / float32(att)
	case i >= n-rel:
		x = float32(n-i) / float32(rel)
	default:
		return 1
	}
	return x * x * (3 - 2*x)
}
