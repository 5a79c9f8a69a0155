package codec

// A minimal cgo binding to libopus (Debian's libopus-dev, found through
// pkg-config). gopkg.in/hraban/opus.v2 is served by the Go proxy, but its
// stream reader links libopusfile unless every go command is given the
// nolibopusfile build tag; these few calls avoid both the tag and the extra
// system package.

/*
#cgo pkg-config: opus
#include <opus.h>

static int codec_enc_set(OpusEncoder *st, int bitrate, int fec, int loss, int complexity, int dtx) {
	int err;
	if ((err = opus_encoder_ctl(st, OPUS_SET_BITRATE(bitrate))) != OPUS_OK) return err;
	if ((err = opus_encoder_ctl(st, OPUS_SET_INBAND_FEC(fec))) != OPUS_OK) return err;
	if ((err = opus_encoder_ctl(st, OPUS_SET_PACKET_LOSS_PERC(loss))) != OPUS_OK) return err;
	if ((err = opus_encoder_ctl(st, OPUS_SET_COMPLEXITY(complexity))) != OPUS_OK) return err;
	if ((err = opus_encoder_ctl(st, OPUS_SET_DTX(dtx))) != OPUS_OK) return err;
	return opus_encoder_ctl(st, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
}

// codec_packet_samples validates the packet's framing and returns its
// samples at rate (the parse arrays live on the C stack: no Go allocation).
static int codec_packet_samples(const unsigned char *data, opus_int32 len, opus_int32 rate) {
	unsigned char toc;
	const unsigned char *frames[48];
	opus_int16 sizes[48];
	int off;
	int n = opus_packet_parse(data, len, &toc, frames, sizes, &off);
	if (n < 0) return n;
	return opus_packet_get_nb_samples(data, len, rate);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// libopusError is a negative libopus return code.
type libopusError int

func (e libopusError) Error() string {
	return "libopus: " + C.GoString(C.opus_strerror(C.int(e)))
}

// LibopusVersion reports the linked libopus, e.g. "libopus 1.3.1".
func LibopusVersion() string { return C.GoString(C.opus_get_version_string()) }

// opusDec holds a libopus decoder whose state lives in Go memory: it holds
// no Go pointers and C keeps no reference between calls, so the garbage
// collector frees it and no Close is needed.
type opusDec struct {
	mem  []byte
	st   *C.OpusDecoder
	rate int
}

func newOpusDec(rate int) (*opusDec, error) {
	d := &opusDec{rate: rate, mem: make([]byte, int(C.opus_decoder_get_size(1)))}
	d.st = (*C.OpusDecoder)(unsafe.Pointer(&d.mem[0]))
	if rc := C.opus_decoder_init(d.st, C.opus_int32(rate), 1); rc != C.OPUS_OK {
		return nil, fmt.Errorf("opus decoder init at %d Hz: %w", rate, libopusError(rc))
	}
	return d, nil
}

// decode decodes one packet into pcm (len(pcm) is the most it may write).
// With fec, it decodes the in-band FEC copy of the packet BEFORE data into
// exactly len(pcm) samples (libopus falls back to PLC when there is none).
// With data nil it runs packet-loss concealment for len(pcm) samples.
func (d *opusDec) decode(data []byte, pcm []int16, fec bool) (int, error) {
	if len(pcm) == 0 {
		return 0, nil
	}
	var p *C.uchar
	if len(data) > 0 {
		p = (*C.uchar)(unsafe.Pointer(&data[0]))
	}
	f := C.int(0)
	if fec {
		f = 1
	}
	n := C.opus_decode(d.st, p, C.opus_int32(len(data)), (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)), f)
	if n < 0 {
		return 0, libopusError(n)
	}
	return int(n), nil
}

// packetSamples is the packet's duration in samples at rate. libopus parses
// the whole framing (table of contents, frame count, frame lengths), so a
// packet that passes can be handed to the decoder.
func packetSamples(data []byte, rate int) (int, error) {
	if len(data) == 0 {
		return 0, libopusError(C.OPUS_INVALID_PACKET)
	}
	n := C.codec_packet_samples((*C.uchar)(unsafe.Pointer(&data[0])), C.opus_int32(len(data)), C.opus_int32(rate))
	if n < 0 {
		return 0, libopusError(n)
	}
	return int(n), nil
}

// opusEnc holds a libopus encoder in Go memory (see opusDec).
type opusEnc struct {
	mem  []byte
	st   *C.OpusEncoder
	rate int
}

func newOpusEnc(rate, bitrate, lossPerc, complexity int, fec, dtx bool) (*opusEnc, error) {
	e := &opusEnc{rate: rate, mem: make([]byte, int(C.opus_encoder_get_size(1)))}
	e.st = (*C.OpusEncoder)(unsafe.Pointer(&e.mem[0]))
	if rc := C.opus_encoder_init(e.st, C.opus_int32(rate), 1, C.OPUS_APPLICATION_VOIP); rc != C.OPUS_OK {
		return nil, fmt.Errorf("opus encoder init at %d Hz: %w", rate, libopusError(rc))
	}
	b := func(v bool) C.int {
		if v {
			return 1
		}
		return 0
	}
	if rc := C.codec_enc_set(e.st, C.int(bitrate), b(fec), C.int(lossPerc), C.int(complexity), b(dtx)); rc != C.OPUS_OK {
		return nil, fmt.Errorf("opus encoder settings: %w", libopusError(rc))
	}
	return e, nil
}

func (e *opusEnc) encode(pcm []int16, out []byte) (int, error) {
	if len(pcm) == 0 || len(out) == 0 {
		return 0, libopusError(C.OPUS_BAD_ARG)
	}
	n := C.opus_encode(e.st, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)), (*C.uchar)(unsafe.Pointer(&out[0])), C.opus_int32(len(out)))
	if n < 0 {
		return 0, libopusError(n)
	}
	return int(n), nil
}
