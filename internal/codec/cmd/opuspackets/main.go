// Command opuspackets encodes a mono 16-bit WAV into a packet file of Opus
// RTP payloads, encoded as a browser sends them (48 kHz, 20 ms, VOIP,
// in-band FEC). It made the fixtures in internal/codec/testdata:
//
//	go run ./internal/codec/cmd/opuspackets -in clip.wav -from 2s -for 6s -out speech.opus.pkts
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/inferflow/inferflow/internal/codec"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "opuspackets:", err)
		os.Exit(1)
	}
}

func run() error {
	in := flag.String("in", "", "input WAV (mono, 16-bit)")
	out := flag.String("out", "", "output packet file")
	from := flag.Duration("from", 0, "start offset in the WAV")
	length := flag.Duration("for", 0, "length to encode (0: to the end)")
	bitrate := flag.Int("bitrate", 32000, "Opus bitrate in bit/s")
	flag.Parse()
	if *in == "" || *out == "" {
		return errors.New("-in and -out are required")
	}
	b, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	pcm, rate, err := codec.ReadWAV(bytes.NewReader(b))
	if err != nil {
		return err
	}
	start := min(len(pcm), int(*from*time.Duration(rate)/time.Second))
	pcm = pcm[start:]
	if *length > 0 {
		pcm = pcm[:min(len(pcm), int(*length*time.Duration(rate)/time.Second))]
	}
	pkts, err := codec.EncodePCM(pcm, rate, codec.EncoderConfig{Bitrate: *bitrate})
	if err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := codec.WritePackets(f, pkts); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	total := 0
	for _, p := range pkts {
		total += len(p)
	}
	fmt.Printf("%s: %d packets (%v), %d payload bytes\n", *out, len(pkts), time.Duration(len(pkts))*codec.FrameDuration, total)
	return nil
}
