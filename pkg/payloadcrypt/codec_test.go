package payloadcrypt

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
)

// fixedKey is a known key, so tests can look for it in output.
func fixedKey(b byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, KeySize))
}

func ring(t testing.TB, entries ...string) *Keyring {
	t.Helper()
	k, err := ParseKeys(strings.Join(entries, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func jsonPayload(t testing.TB, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCodecRoundTrip(t *testing.T) {
	keys := ring(t, "k1:"+fixedKey(1))
	tests := []struct {
		name string
		in   *commonpb.Payload
	}{
		{"json", jsonPayload(t, map[string]string{"prompt": "Summarise Temporal in one line"})},
		{"nil value", jsonPayload(t, nil)},
		{"bytes", jsonPayload(t, bytes.Repeat([]byte("image"), 20000))},
		{"empty payload", &commonpb.Payload{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := Codec{Keys: keys}.Encode([]*commonpb.Payload{tt.in})
			if err != nil {
				t.Fatal(err)
			}
			md := enc[0].GetMetadata()
			if string(md["encoding"]) != "binary/encrypted" || string(md["encryption-key-id"]) != "k1" || len(md) != 2 {
				t.Fatalf("metadata = %q", md)
			}
			if len(tt.in.GetData()) > 4 && bytes.Contains(enc[0].GetData(), tt.in.GetData()[1:len(tt.in.GetData())-1]) {
				t.Fatal("encoded data holds the clear data")
			}
			dec, err := Codec{Keys: keys}.Decode(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dec[0].GetData(), tt.in.GetData()) || fmt.Sprint(dec[0].GetMetadata()) != fmt.Sprint(tt.in.GetMetadata()) {
				t.Fatalf("decoded %v, want %v", dec[0], tt.in)
			}
		})
	}
}

// Two encodings of the same payload differ (random nonce), so equal inputs
// are not visible as equal ciphertexts in history.
func TestCodecNonceIsRandom(t *testing.T) {
	keys := ring(t, "k1:"+fixedKey(1))
	p := jsonPayload(t, "same")
	a, _ := Codec{Keys: keys}.Encode([]*commonpb.Payload{p})
	b, _ := Codec{Keys: keys}.Encode([]*commonpb.Payload{p})
	if bytes.Equal(a[0].Data, b[0].Data) {
		t.Fatal("two encodings are identical")
	}
}

// Rotation: a new key put first encrypts; payloads under the old key still
// decode as long as it stays in the ring.
func TestCodecRotation(t *testing.T) {
	old := ring(t, "2025:"+fixedKey(1))
	rotated := ring(t, "2026:"+fixedKey(2), "2025:"+fixedKey(1))
	p := jsonPayload(t, "prompt")
	underOld, _ := Codec{Keys: old}.Encode([]*commonpb.Payload{p})
	underNew, _ := Codec{Keys: rotated}.Encode([]*commonpb.Payload{p})
	if id := string(underNew[0].Metadata[MetadataKeyID]); id != "2026" {
		t.Fatalf("rotated ring encrypts with %q, want 2026", id)
	}
	for name, enc := range map[string][]*commonpb.Payload{"old": underOld, "new": underNew} {
		dec, err := Codec{Keys: rotated}.Decode(enc)
		if err != nil || !bytes.Equal(dec[0].Data, p.Data) {
			t.Fatalf("%s payload: %v, %v", name, dec, err)
		}
	}
	if _, err := (Codec{Keys: old}).Decode(underNew); !errors.As(err, new(*UnknownKeyError)) {
		t.Fatalf("old ring on a new payload: %v", err)
	}
}

// Payloads written before encryption was turned on decode as they are.
func TestCodecPassesClearPayloads(t *testing.T) {
	p := jsonPayload(t, "clear")
	for _, keys := range []*Keyring{nil, ring(t, "k1:"+fixedKey(1))} {
		dec, err := Codec{Keys: keys}.Decode([]*commonpb.Payload{p})
		if err != nil || dec[0] != p {
			t.Fatalf("keys %v: %v, %v", keys, dec, err)
		}
	}
	enc, err := Codec{}.Encode([]*commonpb.Payload{p})
	if err != nil || enc[0] != p {
		t.Fatalf("no keyring must encode nothing: %v, %v", enc, err)
	}
}

func TestCodecDecodeErrors(t *testing.T) {
	secret := fixedKey(7)
	keys := ring(t, "k1:"+secret)
	good, _ := Codec{Keys: keys}.Encode([]*commonpb.Payload{jsonPayload(t, "prompt")})
	tampered := &commonpb.Payload{Metadata: good[0].Metadata, Data: bytes.Clone(good[0].Data)}
	tampered.Data[len(tampered.Data)-1] ^= 1
	relabelled := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte(Encoding), MetadataKeyID: []byte("k2")}, Data: good[0].Data}
	short := &commonpb.Payload{Metadata: good[0].Metadata, Data: []byte{1, 2, 3}}
	tests := []struct {
		name    string
		keys    *Keyring
		in      *commonpb.Payload
		want    any
		message string
	}{
		{"no keyring", nil, good[0], new(*UnknownKeyError), `key id "k1", which is not among this process's payload keys`},
		{"key not in ring", ring(t, "k2:"+secret), good[0], new(*UnknownKeyError), `key id "k1"`},
		{"other key under the same id", ring(t, "k1:"+fixedKey(8)), good[0], new(*DecryptError), `key id "k1" does not decrypt`},
		{"tampered", keys, tampered, new(*DecryptError), `key id "k1" does not decrypt`},
		{"id relabelled", ring(t, "k1:"+secret, "k2:"+secret), relabelled, new(*DecryptError), `key id "k2" does not decrypt`},
		{"truncated", keys, short, new(*DecryptError), `key id "k1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Codec{Keys: tt.keys}.Decode([]*commonpb.Payload{tt.in})
			if err == nil || !errors.As(err, tt.want) || !IsKeyError(err) {
				t.Fatalf("err = %v, want %T", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("err = %q, want %q in it", err, tt.message)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "prompt") {
				t.Fatalf("err shows the key or the payload: %q", err)
			}
		})
	}
}

// The data converter the clients get: values round-trip, and without keys
// an encrypted value fails with the missing key's id.
func TestDataConverter(t *testing.T) {
	keys := ring(t, "k1:"+fixedKey(1))
	dc := DataConverter(keys)
	ps, err := dc.ToPayloads("a prompt", 42)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ps.Payloads[0].Data, []byte("a prompt")) {
		t.Fatal("payload in clear")
	}
	var s string
	var n int
	if err := dc.FromPayloads(ps, &s, &n); err != nil || s != "a prompt" || n != 42 {
		t.Fatalf("got %q %d %v", s, n, err)
	}
	if err := DataConverter(nil).FromPayloads(ps, &s, &n); !errors.As(err, new(*UnknownKeyError)) {
		t.Fatalf("without keys: %v", err)
	}
	if FailureConverter(nil, dc) != nil || FailureConverter(keys, dc) == nil {
		t.Fatal("failure converter: default without keys, encoding with them")
	}
}

// Failure messages are encrypted too, and come back on the other side.
func TestFailureConverterEncryptsMessages(t *testing.T) {
	keys := ring(t, "k1:"+fixedKey(1))
	dc := DataConverter(keys)
	fc := FailureConverter(keys, dc)
	f := fc.ErrorToFailure(errors.New("model said: the secret prompt"))
	if strings.Contains(f.String(), "secret prompt") {
		t.Fatalf("failure holds the message in clear: %v", f)
	}
	if err := fc.FailureToError(f); !strings.Contains(err.Error(), "the secret prompt") {
		t.Fatalf("decoded failure = %v", err)
	}
}

func BenchmarkCodec(b *testing.B) {
	keys := ring(b, "k1:"+fixedKey(1))
	c := Codec{Keys: keys}
	for _, size := range []int{100, 1 << 10, 64 << 10, 1 << 20} {
		p := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: bytes.Repeat([]byte("x"), size)}
		in := []*commonpb.Payload{p}
		enc, _ := c.Encode(in)
		b.Run(fmt.Sprintf("encode/%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Encode(in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("decode/%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Decode(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// warnings records what a Codec logs.
type warnings struct{ got []string }

func (w *warnings) Debug(string, ...any) {}
func (w *warnings) Info(string, ...any)  {}
func (w *warnings) Warn(msg string, kv ...any) {
	w.got = append(w.got, fmt.Sprint(append([]any{msg}, kv...)...))
}
func (w *warnings) Error(string, ...any) {}

// A payload that does not decrypt is logged with its key id (the SDK fails
// the workflow task silently), never with a key.
func TestCodecLogsKeyErrors(t *testing.T) {
	secret := fixedKey(6)
	enc, _ := Codec{Keys: ring(t, "k1:"+secret)}.Encode([]*commonpb.Payload{jsonPayload(t, "prompt")})
	var w warnings
	opts := ClientOptions(client.Options{Logger: &w}, ring(t, "k1:"+fixedKey(7)))
	var s string
	if err := opts.DataConverter.FromPayload(enc[0], &s); !errors.As(err, new(*DecryptError)) {
		t.Fatalf("err = %v", err)
	}
	if len(w.got) != 1 || !strings.Contains(w.got[0], `key id "k1"`) || strings.Contains(w.got[0], secret) || strings.Contains(w.got[0], fixedKey(7)) {
		t.Fatalf("logged %q", w.got)
	}
}
