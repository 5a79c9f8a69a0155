package inferflow

import (
	"go.temporal.io/sdk/client"

	"github.com/inferflow/inferflow/pkg/payloadcrypt"
)

// EncryptPayloads returns opts with the data and failure converters of an
// inferflow worker that has payload keys: workflow inputs (prompts, images),
// results and failure messages travel encrypted with keys, and come back
// decrypted. A backend starting workflows on such a worker dials with it:
//
//	keys, err := payloadcrypt.LoadFile("/etc/inferflow/payload-keys")
//	c, err := client.Dial(inferflow.EncryptPayloads(client.Options{HostPort: addr}, keys))
//
// With nil keys payloads stay in clear, and an encrypted result fails with
// a *payloadcrypt.UnknownKeyError naming the key id it needs.
func EncryptPayloads(opts client.Options, keys *payloadcrypt.Keyring) client.Options {
	return payloadcrypt.ClientOptions(opts, keys)
}
