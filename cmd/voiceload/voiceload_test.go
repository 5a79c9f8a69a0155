package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []int
		wantErr string
	}{
		{name: "defaults", want: []int{50, 100, 200, 400}},
		{name: "levels", args: []string{"-n", " 5, 7"}, want: []int{5, 7}},
		{name: "dev server", args: []string{"-n", "5", "-temporal", "dev"}, want: []int{5}},
		{name: "zero level", args: []string{"-n", "0"}, wantErr: "-n"},
		{name: "too many", args: []string{"-n", "2001"}, wantErr: "-n"},
		{name: "not a number", args: []string{"-n", "50,x"}, wantErr: "-n"},
		{name: "short window", args: []string{"-window", "1s"}, wantErr: "-window"},
		{name: "long window", args: []string{"-window", "11m"}, wantErr: "-window"},
		{name: "long stagger", args: []string{"-stagger", "2m"}, wantErr: "-stagger"},
		{name: "no dial slots", args: []string{"-dial-parallel", "0"}, wantErr: "-dial-parallel"},
		{name: "negative settle", args: []string{"-settle", "-1s"}, wantErr: "-settle"},
		{name: "cores", args: []string{"-cores", "0"}, wantErr: "-cores"},
		{name: "budget", args: []string{"-budget-ms", "0"}, wantErr: "-budget-ms"},
		{name: "temporal mode", args: []string{"-temporal", "maybe"}, wantErr: "-temporal"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseArgs(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(o.levels) != len(tt.want) {
				t.Fatalf("levels = %v, want %v", o.levels, tt.want)
			}
			for i := range tt.want {
				if o.levels[i] != tt.want[i] {
					t.Fatalf("levels = %v, want %v", o.levels, tt.want)
				}
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	// Fields after the name: state ppid pgrp session tty tpgid flags minflt
	// cminflt majflt cmajflt utime stime ...
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{name: "plain", stat: "1234 (realtime) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0",
			want: 3 * time.Second},
		{name: "name with spaces and parens", stat: "99 (a (b) c) R 1 2 3 0 -1 0 0 0 0 0 7 3 0 0",
			want: 100 * time.Millisecond},
		{name: "truncated", stat: "1 (x) S 1 2 3", wantErr: true},
		{name: "no name", stat: "1 x S 1 2 3 4 5 6 7 8 9 10 11 12 13", wantErr: true},
		{name: "bad number", stat: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 ab 3 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("cpu = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    uint64
		wantErr bool
	}{
		{name: "found", status: "Name:\trealtime\nVmPeak:\t  9999 kB\nVmRSS:\t   2048 kB\nThreads: 8\n", want: 2048 * 1024},
		{name: "missing", status: "Name:\tx\nVmPeak:\t1 kB\n", wantErr: true},
		{name: "odd unit", status: "VmRSS:\t2 MB\n", wantErr: true},
		{name: "not a number", status: "VmRSS:\tmany kB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tt.status))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("rss = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestParseLoadAvg(t *testing.T) {
	if v, err := parseLoadAvg([]byte("3.45 2.10 1.00 2/300 4242\n")); err != nil || v != 3.45 {
		t.Fatalf("= %v, %v; want 3.45", v, err)
	}
	if _, err := parseLoadAvg([]byte("")); err == nil {
		t.Fatal("empty loadavg accepted")
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	tests := []struct {
		q, want float64
	}{{0, 1}, {0.5, 5}, {0.9, 9}, {0.99, 10}, {1, 10}}
	for _, tt := range tests {
		if got := quantile(xs, tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if xs[0] != 5 {
		t.Error("quantile sorted its input")
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing is not 0")
	}
}

func TestSummarize(t *testing.T) {
	ls := []sessionLatency{
		{decisions: 100, p50: 0.1, p99: 1},
		{decisions: 100, p50: 0.2, p99: 6},
		{decisions: 100, p50: 0.3, p99: 2},
		{decisions: 0}, // never decided: not counted
	}
	s := summarize(ls, 5)
	want := latencySummary{Sessions: 3, Decisions: 300, P50: 0.2, P50Max: 0.3, P99: 6, P99Max: 6, Over: 1}
	if s != want {
		t.Fatalf("summary = %+v, want %+v", s, want)
	}
}

const traces = `File: realtime
Type: cpu
-----------+-------------------------------------------------------
      30ms   crypto/internal/fips140/aes.encryptBlocks
             crypto/cipher.(*ctr).XORKeyStream
             github.com/pion/srtp/v3.(*Context).encryptRTP
-----------+-------------------------------------------------------
      20ms   runtime.cgocall
             github.com/inferflow/inferflow/internal/codec._Cfunc_opus_decode
             github.com/inferflow/inferflow/internal/codec.(*Receiver).Pop
-----------+-------------------------------------------------------
      10ms   runtime.futex
             runtime.findRunnable
             runtime.schedule
-----------+-------------------------------------------------------
      10ms   runtime.memmove
             main.mystery
-----------+-------------------------------------------------------
      40ms   github.com/inferflow/inferflow/gate.(*Gate).Push
             github.com/inferflow/inferflow/internal/voice.(*Session).run
-----------+-------------------------------------------------------
`

func TestCategorizeTraces(t *testing.T) {
	got, total, err := categorizeTraces(strings.NewReader(traces))
	if err != nil {
		t.Fatal(err)
	}
	if total != 110*time.Millisecond {
		t.Fatalf("total = %v, want 110ms", total)
	}
	want := []categoryTime{
		{"speech gate (gate)", 40 * time.Millisecond},
		{"SRTP/DTLS (pion/srtp, crypto)", 30 * time.Millisecond},
		{"Opus decode of the caller (libopus via cgo)", 20 * time.Millisecond},
		{"other", 10 * time.Millisecond},
		{"scheduling and channels (runtime: park, futex, netpoll, timers, select)", 10 * time.Millisecond},
	}
	if len(got) != len(want) {
		t.Fatalf("categories = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("category %d = %v, want %v", i, got[i], want[i])
		}
	}
	if _, _, err := categorizeTraces(strings.NewReader("-----------+---\n   xyz  f\n")); err == nil {
		t.Error("a bad sample value was accepted")
	}
}

func TestParseSchedstat(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "4493142 4589039 8\n", want: 4589039},
		{in: "1 2", wantErr: true},
		{in: "1 x 3", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseSchedstat([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseSchedstat(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
