package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/logging"
	"github.com/inferflow/inferflow/internal/payloadkeys"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/pkg/payloadcrypt"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/wire"
)

// newKeys is a keyring with one fresh key under id, and the key's entry.
func newKeys(t *testing.T, id string) (*payloadcrypt.Keyring, string) {
	t.Helper()
	entry, err := payloadcrypt.NewKeyEntry(id)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := payloadcrypt.ParseKeys(entry)
	if err != nil {
		t.Fatal(err)
	}
	return keys, entry
}

// consensusWorker runs the consensus workflow on a new queue with c and a
// fake model whose judge answers rationale.
func consensusWorker(t *testing.T, c client.Client, rationale string) string {
	t.Helper()
	fake := openaitest.New()
	t.Cleanup(fake.Close)
	fake.ForVision().SetDefault(openaitest.OK(120, 0.9))
	fake.ForJudge().SetDefault(openaitest.Judged(121, 0.95, rationale))
	models, err := provider.New(fake.Config())
	if err != nil {
		t.Fatal(err)
	}
	queue := uniqueQueue(t)
	startWorker(t, c, queue, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Models: models, Blobs: blob.Dir{Root: t.TempDir()}})
	})
	return queue
}

// rawHistory is the workflow's history as the server stores it, read
// without keys: every event, binary-marshalled.
func rawHistory(t *testing.T, ctx context.Context, id string) ([]byte, []*commonpb.Payload) {
	t.Helper()
	it := dialKeys(t, nil).GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var all []byte
	var result []*commonpb.Payload
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
		if done := ev.GetWorkflowExecutionCompletedEventAttributes(); done != nil {
			result = done.GetResult().GetPayloads()
		}
	}
	return all, result
}

// With keys, the history holds no prompt, image or model output in clear;
// the codec server (as the Web UI calls it) and the CLI with
// --codec-endpoint show them decoded.
func TestEncryptedHistory(t *testing.T) {
	skipShort(t)
	keys, _ := newKeys(t, "it-1")
	const rationale = "rationale-marker-Zq9 the three valuations agree"
	c := dialKeys(t, keys)
	queue := consensusWorker(t, c, rationale)
	codec, err := payloadkeys.ServerConfig{Addr: "127.0.0.1:0", Origins: payloadkeys.Settings.CodecOrigins.Default}.Serve(keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(codec.Close)

	ctx := ctxFor(t, 2*time.Minute)
	img := itemImage(t)
	item := fmt.Sprintf("enc-%d", time.Now().UnixNano())
	run, err := (&inferflow.Client{Temporal: c, TaskQueue: queue}).StartConsensus(ctx, inferflow.ConsensusRequest{ItemID: item, Image: img})
	if err != nil {
		t.Fatal(err)
	}
	var res wire.ConsensusResult
	if err := run.Get(ctx, &res); err != nil || res.Judge.Rationale != rationale {
		t.Fatalf("result %+v, %v", res.Judge, err)
	}

	id := wire.ConsensusWorkflowID(item)
	hist, result := rawHistory(t, ctx, id)
	imgText := base64.StdEncoding.EncodeToString(img[:30]) // as it sits in the input's JSON
	for name, clear := range map[string][]byte{"model output": []byte("rationale-marker-Zq9"), "image": []byte(imgText), "image bytes": img[:30]} {
		if bytes.Contains(hist, clear) {
			t.Errorf("history holds the %s in clear", name)
		}
	}
	if !bytes.Contains(hist, []byte(payloadcrypt.Encoding)) || len(result) != 1 || string(result[0].Metadata[payloadcrypt.MetadataKeyID]) != "it-1" {
		t.Fatalf("result payload not encrypted under it-1: %v", result)
	}

	// The Web UI's call: POST <endpoint>/decode from its origin.
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: result})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, codec.URL()+"/decode", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://localhost:8233")
	req.Header.Set("X-Namespace", server.Namespace)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var decoded commonpb.Payloads
	if err := protojson.Unmarshal(raw, &decoded); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("decode: %d %s %v", resp.StatusCode, raw, err)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:8233" {
		t.Errorf("no CORS answer for the Web UI: %v", resp.Header)
	}
	if len(decoded.Payloads) != 1 || !bytes.Contains(decoded.Payloads[0].Data, []byte(rationale)) {
		t.Fatalf("decoded result %s", raw)
	}

	// The operator's CLI: clear only with the codec endpoint.
	cli, err := devserver.FindCLI(root)
	if err != nil {
		t.Fatal(err)
	}
	show := func(extra ...string) string {
		args := append([]string{"workflow", "show", "--workflow-id", id, "--address", server.Address,
			"--namespace", server.Namespace, "--output", "json"}, extra...)
		out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("temporal %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := payloadData(show()); strings.Contains(out, "rationale-marker-Zq9") {
		t.Error("`temporal workflow show` without the codec shows the model output")
	}
	if out := payloadData(show("--codec-endpoint", codec.URL())); !strings.Contains(out, "rationale-marker-Zq9") {
		t.Errorf("`temporal workflow show --codec-endpoint` does not show the decoded result:\n%.3000s", out)
	}
}

var dataField = regexp.MustCompile(`"data":\s*"([A-Za-z0-9+/=]*)"`)

// payloadData is the CLI's JSON output with each payload's data (base64 in
// the JSON) decoded beside it.
func payloadData(out string) string {
	var b strings.Builder
	b.WriteString(out)
	for _, m := range dataField.FindAllStringSubmatch(out, -1) {
		if raw, err := base64.StdEncoding.DecodeString(m[1]); err == nil {
			b.WriteString("\n")
			b.Write(raw)
		}
	}
	return b.String()
}

// syncBuffer collects a logger's output from the worker's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A worker holding the wrong key under the payload's key id cannot run the
// workflow; it logs why (the SDK does not), and its logs and the history's
// failure name the key id, never a key.
func TestWrongKeyNeverLogged(t *testing.T) {
	skipShort(t)
	right, rightEntry := newKeys(t, "it-2")
	wrong, wrongEntry := newKeys(t, "it-2")
	var logs syncBuffer
	z := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.DebugLevel))
	wc, err := client.Dial(payloadcrypt.ClientOptions(client.Options{HostPort: server.Address, Namespace: server.Namespace, Logger: logging.NewSDK(z)}, wrong))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wc.Close)
	queue := consensusWorker(t, wc, "unused")

	ctx := ctxFor(t, 2*time.Minute)
	item := fmt.Sprintf("wrongkey-%d", time.Now().UnixNano())
	starter := dialKeys(t, right)
	if _, err := (&inferflow.Client{Temporal: starter, TaskQueue: queue}).StartConsensus(ctx, inferflow.ConsensusRequest{ItemID: item, Image: itemImage(t)}); err != nil {
		t.Fatal(err)
	}
	id := wire.ConsensusWorkflowID(item)
	t.Cleanup(func() { _ = starter.TerminateWorkflow(context.Background(), id, "", "test over") })

	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(logs.String(), `does not decrypt`) {
		if time.Now().After(deadline) {
			h, _ := rawHistory(t, ctx, id)
			t.Fatalf("the worker never logged the failed decryption:\n%s\nhistory: %q", logs.String(), h)
		}
		time.Sleep(200 * time.Millisecond)
	}
	hist, _ := rawHistory(t, ctx, id)
	for name, out := range map[string]string{"worker log": logs.String(), "history": string(hist)} {
		if !strings.Contains(out, `it-2`) {
			t.Errorf("%s does not name the key id", name)
		}
		for _, entry := range []string{rightEntry, wrongEntry} {
			key := strings.TrimPrefix(entry, "it-2:")
			raw, _ := base64.StdEncoding.DecodeString(key)
			if strings.Contains(out, key) || strings.Contains(out, key[:12]) || strings.Contains(out, string(raw[:8])) {
				t.Errorf("%s shows key material", name)
			}
		}
	}
	// The failure's message is encrypted too (with the worker's key); its
	// type says what went wrong.
	if !bytes.Contains(hist, []byte("DecryptError")) {
		t.Error("the history's workflow task failure does not say why")
	}
}
