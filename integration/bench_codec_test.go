package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/pkg/payloadcrypt"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/wire"
)

// BenchmarkConsensusCodec is the consensus workflow with payloads in clear
// and encrypted (client and worker with the same keys), alternating on the
// same dev server, so the codec's cost per workflow shows as the ratio.
func BenchmarkConsensusCodec(b *testing.B) {
	if testing.Short() {
		b.Skip("needs a dev server")
	}
	entry, err := payloadcrypt.NewKeyEntry("bench")
	if err != nil {
		b.Fatal(err)
	}
	keys, err := payloadcrypt.ParseKeys(entry)
	if err != nil {
		b.Fatal(err)
	}
	models, _ := provider.New(provider.Config{})
	img := itemImage(b)
	type side struct {
		c     client.Client
		queue string
	}
	sides := map[string]side{}
	for name, k := range map[string]*payloadcrypt.Keyring{"clear": nil, "encrypted": keys} {
		c, err := client.Dial(payloadcrypt.ClientOptions(client.Options{HostPort: server.Address, Namespace: server.Namespace, Logger: quiet{}}, k))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		queue := fmt.Sprintf("bench-codec-%s-%d", name, time.Now().UnixNano())
		w := worker.New(c, queue, worker.Options{})
		registry.Register(w, registry.Deps{Models: models, Blobs: blob.Dir{Root: b.TempDir()}})
		if err := w.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(w.Stop)
		sides[name] = side{c, queue}
	}
	for _, inflight := range []int{1, 16} {
		for _, name := range []string{"clear", "encrypted"} {
			s := sides[name]
			b.Run(fmt.Sprintf("%s/inflight=%d", name, inflight), func(b *testing.B) {
				runLoad(b, inflight, func(ctx context.Context, i int) (client.WorkflowRun, error) {
					item := benchID("codec-"+name, i)
					return s.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wire.ConsensusWorkflowID(item), TaskQueue: s.queue, EnableEagerStart: true},
						wire.WorkflowConsensusEvaluation, wire.ConsensusInput{ItemID: item, Image: wire.Image{MediaType: "image/png", Data: img}})
				})
			})
		}
	}
}
