package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// A category names what a CPU sample was spent on. Each sample goes to the
// first frame, from the leaf up, that matches a rule: the leaf's own work
// where it is recognisable (AES in SRTP, a syscall), otherwise the nearest
// caller that is (memmove under the Opus decoder counts as decode).
type category struct {
	Name     string
	Prefixes []string // substrings of a frame's function name
}

var categories = []category{
	{"scheduling and channels (runtime: park, futex, netpoll, timers, select)", []string{
		"runtime.schedule", "runtime.findRunnable", "runtime.park_m", "runtime.mcall", "runtime.futex",
		"runtime.netpoll", "runtime.notesleep", "runtime.notewakeup", "runtime.usleep", "runtime.stealWork",
		"runtime.runqgrab", "runtime.checkTimers", "runtime.wakep", "runtime.goready", "runtime.ready",
		"runtime.resetspinning", "runtime.startm", "runtime.stopm", "runtime.gopark", "runtime.osyield",
		"runtime.(*timer)", "runtime.(*timers)", "runtime.selectgo", "runtime.chansend", "runtime.chanrecv",
		"runtime.lock2", "runtime.unlock2", "runtime.semasleep", "runtime.semawakeup", "runtime.sysmon",
		"runtime.casgstatus", "runtime.execute", "runtime.gogo", "runtime.asyncPreempt", "runtime.preempt"}},
	{"GC and allocation", []string{"runtime.gcBgMarkWorker", "runtime.gcDrain", "runtime.mallocgc", "runtime.scanobject",
		"runtime.gcAssist", "runtime.bgsweep", "runtime.bgscavenge", "runtime.(*mheap)", "runtime.(*mcache)",
		"runtime.(*mcentral)", "runtime.memclrNoHeapPointers", "runtime.newobject", "runtime.makeslice", "runtime.growslice",
		"runtime.markroot", "runtime.greyobject", "runtime.findObject", "runtime.wbBuf", "runtime.bulkBarrier"}},
	{"network syscalls (UDP send/receive)", []string{"syscall.", "internal/poll.", "internal/runtime/syscall.",
		"runtime/internal/syscall.", "net.(*UDPConn)", "net.(*conn)", "net.(*netFD)"}},
	// cgo calls show as runtime.cgocall under the _Cfunc_ that made them.
	{"Opus decode of the caller (libopus via cgo)", []string{"_Cfunc_opus_decode", "_Cfunc_codec_",
		"inferflow/internal/codec.(*opusDec)", "inferflow/internal/codec.(*OpusDecoder)"}},
	{"Opus encode of the assistant's voice (libopus via cgo)", []string{"_Cfunc_opus_encode",
		"inferflow/internal/codec.(*opusEnc)", "inferflow/internal/codec.(*Encoder)"}},
	{"SRTP/DTLS (pion/srtp, crypto)", []string{"pion/srtp", "pion/dtls", "crypto/", "vendor/golang.org/x/crypto"}},
	{"jitter buffer, resampling, framing (internal/codec)", []string{"inferflow/internal/codec."}},
	{"speech gate (gate)", []string{"inferflow/gate."}},
	{"session (internal/voice, playout, records)", []string{"inferflow/internal/voice.", "inferflow/internal/voicesignal.",
		"inferflow/internal/realtimemodel."}},
	{"Temporal client, gRPC, logging, metrics", []string{"go.temporal.io", "google.golang.org/grpc", "go.uber.org/zap",
		"prometheus"}},
	{"pion RTP/ICE/SCTP/interceptors", []string{"github.com/pion/"}},
	{"other", nil},
}

// categorizeTraces reads the output of `go tool pprof -traces` and returns
// the CPU time per category, largest first, and the total.
//
// The format is a header, then one block per distinct stack:
//
//	-----------+-------------------------------------------------------
//	      10ms   runtime.futex
//	             runtime.futexsleep
func categorizeTraces(r io.Reader) ([]categoryTime, time.Duration, error) {
	byName := map[string]time.Duration{}
	var total time.Duration
	var value time.Duration
	var decided, inBlock bool
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			if inBlock && !decided {
				byName["other"] += value
			}
			inBlock, decided, value = true, false, 0
			continue
		}
		if !inBlock {
			continue
		}
		fn := strings.TrimSpace(line)
		if fn == "" {
			continue
		}
		if value == 0 {
			// The block's first line: "<value> <leaf function>".
			v, rest, ok := strings.Cut(fn, " ")
			if !ok {
				return nil, 0, fmt.Errorf("traces: sample line %q", line)
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, 0, fmt.Errorf("traces: sample value %q: %w", v, err)
			}
			if d <= 0 {
				d = time.Nanosecond
			}
			value, total = d, total+d
			fn = strings.TrimSpace(rest)
		}
		if decided {
			continue
		}
		if c, ok := match(fn); ok {
			byName[c] += value
			decided = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("traces: %w", err)
	}
	if inBlock && !decided && value > 0 {
		byName["other"] += value
	}
	out := make([]categoryTime, 0, len(byName))
	for n, d := range byName {
		out = append(out, categoryTime{n, d})
	}
	slices.SortFunc(out, func(a, b categoryTime) int {
		if a.Time != b.Time {
			return int(b.Time - a.Time)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, total, nil
}

type categoryTime struct {
	Name string
	Time time.Duration
}

func match(fn string) (string, bool) {
	for _, c := range categories {
		for _, p := range c.Prefixes {
			if strings.Contains(fn, p) {
				return c.Name, true
			}
		}
	}
	return "", false
}

// analyzeProfile runs `go tool pprof -traces` on a saved profile and
// categorizes its samples.
func analyzeProfile(ctx context.Context, bin, path string) ([]categoryTime, time.Duration, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-traces", bin, path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, 0, fmt.Errorf("go tool pprof: %w: %s", err, stderr.String())
	}
	return categorizeTraces(bytes.NewReader(out))
}
