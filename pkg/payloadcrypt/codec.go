package payloadcrypt

import (
	"crypto/rand"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// The payload metadata of an encrypted payload. The data is nonce ‖
// AES-256-GCM(marshalled original payload), with the key id as additional
// data so a payload cannot be passed off under another key's id.
const (
	Encoding         = "binary/encrypted"
	MetadataKeyID    = "encryption-key-id"
	metadataEncoding = converter.MetadataEncoding
)

// UnknownKeyError is an encrypted payload whose key this process does not
// have (no keyring, or the key was removed from it too early).
type UnknownKeyError struct{ KeyID string }

func (e *UnknownKeyError) Error() string {
	if e.KeyID == "" {
		return "payload is encrypted but names no key id"
	}
	return fmt.Sprintf("payload is encrypted with key id %q, which is not among this process's payload keys", e.KeyID)
}

// DecryptError is an encrypted payload that does not open under its key:
// the wrong key under that id, or a damaged payload.
type DecryptError struct{ KeyID string }

func (e *DecryptError) Error() string {
	return fmt.Sprintf("payload encrypted with key id %q does not decrypt: wrong key for that id, or damaged data", e.KeyID)
}

// Codec encrypts payloads with the keyring's active key and decrypts them
// with whichever key they name. Payloads that are not encrypted decode
// unchanged: histories written before encryption was turned on stay
// readable.
type Codec struct {
	Keys *Keyring
	// Logger, when set, gets a warning for each payload that does not
	// decrypt: the SDK fails the workflow task without logging why.
	Logger log.Logger
}

var _ converter.PayloadCodec = Codec{}

// Encode encrypts each payload; without a keyring it returns them as they
// are.
func (c Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	id := c.Keys.Active()
	if id == "" {
		return payloads, nil
	}
	aead, _ := c.Keys.aead(id)
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		// One buffer: nonce, then the marshalled payload, sealed in place
		// (so no clear copy is left behind).
		ns := aead.NonceSize()
		buf := make([]byte, ns, ns+proto.Size(p)+aead.Overhead())
		if _, err := rand.Read(buf); err != nil {
			return payloads, fmt.Errorf("encrypt payload: nonce: %w", err)
		}
		buf, err := proto.MarshalOptions{}.MarshalAppend(buf, p)
		if err != nil {
			return payloads, fmt.Errorf("encrypt payload: %w", err)
		}
		sealed := aead.Seal(buf[:ns], buf[:ns], buf[ns:], []byte(id))
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{metadataEncoding: []byte(Encoding), MetadataKeyID: []byte(id)},
			Data:     sealed,
		}
	}
	return out, nil
}

// Decode decrypts each encrypted payload and passes the others through.
func (c Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[metadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.Keys.aead(id)
		if !ok {
			return payloads, c.keyError(&UnknownKeyError{KeyID: id})
		}
		data := p.GetData()
		if len(data) < aead.NonceSize()+aead.Overhead() {
			return payloads, c.keyError(&DecryptError{KeyID: id})
		}
		nonce, sealed := data[:aead.NonceSize()], data[aead.NonceSize():]
		plain, err := aead.Open(nil, nonce, sealed, []byte(id))
		if err != nil {
			return payloads, c.keyError(&DecryptError{KeyID: id})
		}
		var orig commonpb.Payload
		if err := proto.Unmarshal(plain, &orig); err != nil {
			return payloads, fmt.Errorf("payload encrypted with key id %q: decrypted data is not a payload: %w", id, err)
		}
		out[i] = &orig
	}
	return out, nil
}

func (c Codec) keyError(err error) error {
	if c.Logger != nil {
		c.Logger.Warn("Payload does not decrypt: this process lacks the right payload key", "error", err)
	}
	return err
}

// DataConverter is the SDK's default converter with payloads encrypted by
// keys. Without a keyring it is the default converter plus the Codec, which
// then only turns an encrypted payload into an UnknownKeyError that says
// which setting is missing.
func DataConverter(keys *Keyring) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), Codec{Keys: keys})
}

func loggedDataConverter(keys *Keyring, logger log.Logger) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), Codec{Keys: keys, Logger: logger})
}

// FailureConverter encrypts failure messages and stack traces too (they
// can quote a model's output or a provider's response), moving them into
// the failure's encoded attributes; error types (the contract's codes) stay
// readable in history. Nil without a keyring: the SDK's default.
func FailureConverter(keys *Keyring, dc converter.DataConverter) converter.FailureConverter {
	if keys.Active() == "" {
		return nil
	}
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: true})
}

// ClientOptions returns opts with the DataConverter and FailureConverter
// for keys: what every inferflow client and worker dials with. A payload
// that does not decrypt is logged to opts.Logger (set it first).
func ClientOptions(opts client.Options, keys *Keyring) client.Options {
	opts.DataConverter = loggedDataConverter(keys, opts.Logger)
	opts.FailureConverter = FailureConverter(keys, opts.DataConverter)
	return opts
}

// IsKeyError reports whether err is a payload that could not be decrypted
// for want of the right key.
func IsKeyError(err error) bool {
	var u *UnknownKeyError
	var d *DecryptError
	return errors.As(err, &u) || errors.As(err, &d)
}
