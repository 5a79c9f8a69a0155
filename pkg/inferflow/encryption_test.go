package inferflow

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/inferflow/inferflow/pkg/payloadcrypt"
	"github.com/inferflow/inferflow/wire"
)

func TestEncryptPayloads(t *testing.T) {
	keys, err := payloadcrypt.ParseKeys("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	opts := EncryptPayloads(client.Options{HostPort: "h:1"}, keys)
	if opts.HostPort != "h:1" || opts.FailureConverter == nil {
		t.Fatalf("opts %+v", opts)
	}
	in := wire.ConsensusInput{ItemID: "item-secret-7"}
	p, err := opts.DataConverter.ToPayload(in)
	if err != nil || bytes.Contains(p.Data, []byte("item-secret-7")) || string(p.Metadata["encryption-key-id"]) != "k1" {
		t.Fatalf("payload %v, %v", p, err)
	}
	var back wire.ConsensusInput
	if err := opts.DataConverter.FromPayload(p, &back); err != nil || back.ItemID != in.ItemID {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	clear := EncryptPayloads(client.Options{}, nil)
	if err := clear.DataConverter.FromPayload(p, &back); !errors.As(err, new(*payloadcrypt.UnknownKeyError)) {
		t.Fatalf("without keys: %v", err)
	}
}
