package codec

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Packet files hold a sequence of RTP payloads for tests and load
// generators:
//
//	magic    8 bytes  "IFPKTS1\n"
//	records  repeated: length uint16 big-endian (1..MaxPayload), payload
//
// The file says nothing about timing: every fixture here is Opus with one
// 20 ms frame per packet, so packet k has RTP timestamp k×OpusPacketTicks.
const packetFileMagic = "IFPKTS1\n"

// MaxPacketFileBytes bounds a packet file ReadPackets accepts.
const MaxPacketFileBytes = 32 << 20

// ReadPacketFile reads a packet file written by WritePackets.
func ReadPacketFile(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("packet file: %w", err)
	}
	defer f.Close()
	pkts, err := ReadPackets(f)
	if err != nil {
		return nil, fmt.Errorf("packet file %s: %w", path, err)
	}
	return pkts, nil
}

// ReadPackets reads the packet format from r.
func ReadPackets(r io.Reader) ([][]byte, error) {
	br := bufio.NewReader(io.LimitReader(r, MaxPacketFileBytes+1))
	var magic [len(packetFileMagic)]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil || string(magic[:]) != packetFileMagic {
		return nil, errors.New("not a packet file (bad magic)")
	}
	total := len(magic)
	var pkts [][]byte
	for {
		var l [2]byte
		_, err := io.ReadFull(br, l[:])
		if errors.Is(err, io.EOF) {
			return pkts, nil
		}
		if err != nil {
			return nil, fmt.Errorf("packet %d length: %w", len(pkts), err)
		}
		n := int(binary.BigEndian.Uint16(l[:]))
		if n == 0 || n > MaxPayload {
			return nil, fmt.Errorf("packet %d: length %d outside 1..%d", len(pkts), n, MaxPayload)
		}
		total += 2 + n
		if total > MaxPacketFileBytes {
			return nil, fmt.Errorf("packet file exceeds %d bytes", MaxPacketFileBytes)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return nil, fmt.Errorf("packet %d: %w", len(pkts), err)
		}
		pkts = append(pkts, p)
	}
}

// WritePackets writes pkts in the packet file format.
func WritePackets(w io.Writer, pkts [][]byte) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(packetFileMagic)
	for i, p := range pkts {
		if len(p) == 0 || len(p) > MaxPayload {
			return fmt.Errorf("packet %d: length %d outside 1..%d", i, len(p), MaxPayload)
		}
		var l [2]byte
		binary.BigEndian.PutUint16(l[:], uint16(len(p)))
		bw.Write(l[:])
		bw.Write(p)
	}
	return bw.Flush()
}
