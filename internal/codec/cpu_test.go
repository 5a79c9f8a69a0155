package codec

import (
	"syscall"
	"testing"
	"time"
)

// cpuTimer reports CPU time per operation beside the wall time: on this
// shared 2-core machine wall time mostly measures waiting for a core.
type cpuTimer struct {
	start time.Duration
	ops   int
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() *cpuTimer { return &cpuTimer{start: cpuNow()} }

func (c *cpuTimer) report(b *testing.B) {
	if c.ops > 0 {
		b.ReportMetric(float64(cpuNow()-c.start)/float64(c.ops), "cpu-ns/op")
	}
}
