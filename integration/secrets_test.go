package integration

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/caller"
	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/ledger/ledgertest"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/internal/voice"
	"github.com/inferflow/inferflow/pkg/payloadcrypt"
	"github.com/inferflow/inferflow/wire"
)

// leakRun collects every output of the binaries under test, by name.
type leakRun struct {
	t       *testing.T
	mu      sync.Mutex
	outputs map[string][]byte
	procs   []*leakProc
}

func (r *leakRun) add(name string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outputs[name] = append(r.outputs[name], data...)
}

// leakProc is a long-running binary whose output is kept.
type leakProc struct {
	name   string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{}
}

func randomHex(t *testing.T) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// buildBinary compiles one of the project's commands.
func buildBinary(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// cleanEnv is the process environment without the Temporal and inferflow
// settings of whoever runs the tests, plus env.
func cleanEnv(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TEMPORAL_") || strings.HasPrefix(kv, "INFERFLOW_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, env...)
}

// run runs a short command to its end and keeps its output; it returns the
// combined output and the exit code.
func (r *leakRun) run(name, bin string, env []string, args ...string) (string, int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("%s: %v", name, err)
	}
	r.add(name+" stdout", []byte(stdout.String()))
	r.add(name+" stderr", []byte(stderr.String()))
	return stdout.String() + stderr.String(), code
}

// start runs a long-running binary until stop (or the test's end).
func (r *leakRun) start(name, bin string, env []string, args ...string) *leakProc {
	r.t.Helper()
	p := &leakProc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	r.procs = append(r.procs, p)
	r.t.Cleanup(func() { r.stop(p) })
	return p
}

// stop ends a process with SIGTERM (its shutdown logs are outputs too) and
// keeps its output; a second stop is a no-op.
func (r *leakRun) stop(p *leakProc) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(25 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outputs[p.name+" stdout"] = []byte(p.stdout.String())
	r.outputs[p.name+" stderr"] = []byte(p.stderr.String())
}

// waitHTTP waits until url answers, or the process ends.
func waitHTTP(t *testing.T, p *leakProc, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited: %s", p.name, p.stderr.String())
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %s never answered: %s", p.name, url, p.stderr.String())
}

// get fetches url and keeps the body.
func (r *leakRun) get(name, url string, header http.Header) []byte {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s: %v", name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r.add(name, body)
	return body
}

// Known secrets go into every binary through their ordinary settings; then
// every path a secret could escape by is exercised — consensus, a billed
// job, a failed job whose provider echoes the key in its error, a job
// whose provider is unreachable, a worker and a starter given a ledger DSN
// that cannot be reached (URL and key=value forms), a realtime call, -h,
// /metrics — and every output is searched for every secret: the processes'
// stdout and stderr, the workflows' histories (as stored, as the CLI shows
// them, and decoded through the codec server), the metrics, the data
// channel, the HTTP answers.
func TestSecretsNeverLeak(t *testing.T) {
	skipShort(t)
	loopback(t) // the realtime call needs a loopback interface
	n := randomHex(t)
	entry, err := payloadcrypt.NewKeyEntry("leak-" + n[:6])
	if err != nil {
		t.Fatal(err)
	}
	_, keyB64, _ := strings.Cut(entry, ":")
	pgPassword := "pw-leak-" + n
	base, err := url.Parse(ledgertest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	base.User = url.UserPassword(base.User.Username(), pgPassword)
	dsn := base.String()
	secrets := map[string]string{
		"provider API key":       "sk-leak-provider-" + n,
		"realtime token":         "rt-leak-token-" + n,
		"realtime model API key": "rk-leak-upstream-" + n,
		"Temporal API key":       "tk-leak-temporal-" + n,
		"codec server token":     "ct-leak-codec-" + n,
		"ledger password":        pgPassword,
		"payload key":            keyB64,
	}
	raw, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil {
		t.Fatal(err)
	}
	secrets["payload key (bytes)"] = string(raw)

	r := &leakRun{t: t, outputs: map[string][]byte{}}
	worker, starter, realtime := buildBinary(t, "./worker"), buildBinary(t, "./starter"), buildBinary(t, "./realtime")
	cli, err := devserver.FindCLI(root)
	if err != nil {
		t.Fatal(err)
	}

	fake := openaitest.New()
	t.Cleanup(fake.Close)
	fake.RequireAPIKey(secrets["provider API key"]) // the key is really used
	fake.ForVision().SetDefault(openaitest.OK(120, 0.9))
	fake.ForJudge().SetDefault(openaitest.Judged(121, 0.95, "the valuations agree"))
	fake.ForCompletion().SetDefault(openaitest.Text("done").WithUsage(provider.Usage{PromptTokens: 100, CompletionTokens: 20, TotalTokens: 120}))

	queue, deadQueue := uniqueQueue(t), uniqueQueue(t)
	blobs := t.TempDir()
	common := []string{
		"TEMPORAL_ADDRESS=" + server.Address, "TEMPORAL_NAMESPACE=" + server.Namespace,
		// An API key over plain gRPC: the dev server ignores it, every
		// client sends it.
		"TEMPORAL_API_KEY=" + secrets["Temporal API key"], "TEMPORAL_TLS=false",
		"INFERFLOW_PAYLOAD_KEYS=" + entry,
		"INFERFLOW_LEDGER_DSN=" + dsn,
		"INFERFLOW_BLOB_DIR=" + blobs,
		"INFERFLOW_OPENAI_API_KEY=" + secrets["provider API key"],
		"INFERFLOW_CODEC_TOKEN=" + secrets["codec server token"],
		"INFERFLOW_REALTIME_TOKENS=" + secrets["realtime token"] + ":leak-caller",
		"INFERFLOW_REALTIME_API_KEY=" + secrets["realtime model API key"],
		"INFERFLOW_LOG_LEVEL=debug", "INFERFLOW_LOG_MODE=prod",
	}
	env := cleanEnv(append(common, "INFERFLOW_TASK_QUEUE="+queue)...)
	catalog := fmt.Sprintf("%s:%d:%d:%d", testModel.ID, testModel.PromptPer1K, testModel.CompletionPer1K, testModel.MaxCompletionTokens)
	for _, m := range ledger.DefaultCatalog() {
		catalog += fmt.Sprintf(",%s:%d:%d:%d", m.ID, m.PromptPer1K, m.CompletionPer1K, m.MaxCompletionTokens)
	}

	// Help texts, with every secret set.
	for _, c := range []struct{ name, bin, arg string }{{"worker -h", worker, "-h"}, {"realtime -h", realtime, "-h"}, {"starter consensus -h", starter, "consensus"}} {
		args := []string{c.arg}
		if c.arg == "consensus" {
			args = append(args, "-h")
		}
		r.run(c.name, c.bin, env, args...)
	}

	// Credits, through the starter, with the DSN.
	for _, user := range []string{"leak-user", "leak-caller"} {
		if out, code := r.run("starter ledger credit "+user, starter, env, "ledger", "credit", "--user", user, "--amount", "10000000", "--key", "seed-"+user+"-"+n); code != 0 {
			t.Fatalf("credit %s: exit %d: %s", user, code, out)
		}
	}

	// The worker, and one whose provider is unreachable.
	metricsAddr, codecAddr := freeAddr(t), freeAddr(t)
	w := r.start("worker", worker, env, "--provider", "openai", "--openai-base-url", fake.URL(),
		"--vision-model", openaitest.DefaultVisionModel, "--models", catalog,
		"--metrics-addr", metricsAddr, "--codec-addr", codecAddr)
	waitHTTP(t, w, "http://"+metricsAddr+"/metrics")
	dead := r.start("worker (unreachable provider)", worker, cleanEnv(append(common, "INFERFLOW_TASK_QUEUE="+deadQueue)...),
		"--provider", "openai", "--openai-base-url", "http://127.0.0.1:1/v1", "--vision-model", openaitest.DefaultVisionModel,
		"--models", catalog, "--metrics-addr", "", "--codec-addr", "")

	// Consensus and a billed job that succeed.
	var ids []string
	img := filepath.Join(root, "testdata", "item-42.png")
	item := "leak-" + n
	if out, code := r.run("starter consensus", starter, env, "consensus", "--item", item, "--image", img, "--wait"); code != 0 {
		t.Fatalf("consensus: exit %d: %s", code, out)
	}
	ids = append(ids, wire.ConsensusWorkflowID(item))
	job := func(name, q, id string, wantCode int) {
		t.Helper()
		jenv := cleanEnv(append(common, "INFERFLOW_TASK_QUEUE="+q)...)
		out, code := r.run(name, starter, jenv, "inference", "--user", "leak-user", "--job", id, "--model", testModel.ID,
			"--prompt-tokens", "100", "--prompt", "a prompt", "--timeout-ms", "2000", "--wait")
		if code != wantCode {
			t.Fatalf("%s: exit %d, want %d: %s", name, code, wantCode, out)
		}
		ids = append(ids, wire.InferenceWorkflowID(id))
	}
	job("starter inference", queue, "leak-ok-"+n, 0)
	// The provider refuses, echoing the key the way real ones do.
	fake.ForCompletion().Enqueue(openaitest.RawBody(401, `{"error":{"message":"Incorrect API key provided: `+secrets["provider API key"]+`"}}`))
	job("starter inference (provider echoes the key)", queue, "leak-echo-"+n, 1)
	job("starter inference (provider unreachable)", deadQueue, "leak-dead-"+n, 1)
	r.stop(dead)

	// Ledger DSNs that cannot be reached, URL and key=value, with the password.
	badURL := "postgres://postgres:" + url.QueryEscape(pgPassword) + "@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"
	badKV := "host=127.0.0.1 port=1 user=postgres password='" + pgPassword + "' dbname=test sslmode=disable connect_timeout=2"
	for _, bad := range []struct{ name, dsn string }{{"URL", badURL}, {"key=value", badKV}} {
		benv := cleanEnv(append(common, "INFERFLOW_TASK_QUEUE="+queue, "INFERFLOW_LEDGER_DSN="+bad.dsn)...)
		if out, code := r.run("starter ledger balance (bad "+bad.name+" DSN)", starter, benv, "ledger", "balance", "--user", "x"); code == 0 {
			t.Fatalf("balance with an unreachable ledger succeeded: %s", out)
		}
		if out, code := r.run("worker (bad "+bad.name+" DSN)", worker, benv, "--metrics-addr", "", "--codec-addr", ""); code == 0 {
			t.Fatalf("worker with an unreachable ledger exited 0: %s", out)
		}
	}

	// A realtime call, billed; the data channel is an output too.
	listen, rtMetrics := freeAddr(t), freeAddr(t)
	rt := r.start("realtime", realtime, env, "--listen", listen, "--metrics-addr", rtMetrics)
	waitHTTP(t, rt, "http://"+rtMetrics+"/metrics")
	whip := "http://" + listen + "/whip"
	ctx := ctxFor(t, 2*time.Minute)
	res, err := caller.Run(ctx, caller.Options{URL: whip, Token: secrets["realtime token"], Packets: callPackets(t, 50, 25),
		OnRaw: func(raw []byte) { r.add("data channel", raw) }})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	for _, m := range res.Messages {
		if m.Type == voice.MsgSessionStarted && m.WorkflowID != "" {
			ids = append(ids, m.WorkflowID)
		}
	}
	if res.Count(voice.MsgResponseBilled) == 0 {
		t.Errorf("the call was never billed: %d events", len(res.Messages))
	}
	// The endpoint's refusals.
	for _, c := range []struct{ name, auth string }{{"wrong token", "Bearer rt-leak-token-wrong"}, {"no token", ""}} {
		req, _ := http.NewRequest(http.MethodPost, whip, strings.NewReader("v=0"))
		req.Header.Set("Content-Type", "application/sdp")
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r.add("whip answer ("+c.name+")", body)
		}
	}

	// A realtime model service that refuses the key, echoing it: the call
	// fails, its error goes to the log and the caller.
	var keySent atomic.Bool
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keySent.Store(keySent.Load() || r.Header.Get("Authorization") == "Bearer "+secrets["realtime model API key"])
		http.Error(w, `{"error":{"message":"invalid key `+r.Header.Get("Authorization")+`"}}`, http.StatusUnauthorized)
	}))
	t.Cleanup(echo.Close)
	listen2 := freeAddr(t)
	rt2 := r.start("realtime (upstream refuses the key)", realtime, env, "--listen", listen2, "--metrics-addr", "",
		"--upstream", "websocket", "--model-url", "ws"+strings.TrimPrefix(echo.URL, "http")+"/v1/realtime", "--model", "m")
	waitHTTP(t, rt2, "http://"+listen2+"/")
	res2, err := caller.Run(ctx, caller.Options{URL: "http://" + listen2 + "/whip", Token: secrets["realtime token"],
		Packets: callPackets(t, 0, 0)[:50], MinTail: time.Second, MaxTail: 3 * time.Second,
		OnRaw: func(raw []byte) { r.add("data channel (upstream refuses)", raw) }})
	r.add("caller error (upstream refuses)", []byte(fmt.Sprint(err)))
	for _, m := range res2.Messages {
		if m.Type == voice.MsgSessionStarted && m.WorkflowID != "" {
			ids = append(ids, m.WorkflowID)
		}
	}
	r.stop(rt2)
	if !keySent.Load() {
		t.Error("the realtime process never sent its model API key: the path was not exercised")
	}
	if !strings.Contains(string(r.outputs["realtime (upstream refuses the key) stderr"]), "401") {
		t.Errorf("the refused upstream left no trace in the log:\n%s", r.outputs["realtime (upstream refuses the key) stderr"])
	}

	// Metrics, after the work.
	r.get("worker /metrics", "http://"+metricsAddr+"/metrics", nil)
	r.get("realtime /metrics", "http://"+rtMetrics+"/metrics", nil)

	// Histories: as stored (binary), as the CLI shows them, and decoded
	// by the worker's codec server (which needs its token).
	codecURL := "http://" + codecAddr
	for _, id := range ids {
		raw, _ := rawHistory(t, ctx, id)
		r.add("history (stored) "+id, raw)
		for _, show := range []struct {
			name  string
			extra []string
		}{{"CLI", nil}, {"CLI decoded", []string{"--codec-endpoint", codecURL, "--codec-auth", "Bearer " + secrets["codec server token"]}}} {
			args := append([]string{"workflow", "show", "--workflow-id", id, "--address", server.Address,
				"--namespace", server.Namespace, "--output", "json"}, show.extra...)
			out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("temporal workflow show %s: %v\n%s", id, err, out)
			}
			decoded := payloadData(string(out))
			r.add("history ("+show.name+") "+id, []byte(decoded))
			// Decoding really happened (the judge's rationale is in clear),
			// or the search of decoded histories would see nothing.
			if show.extra != nil && id == wire.ConsensusWorkflowID(item) && !strings.Contains(decoded, "the valuations agree") {
				t.Errorf("decoded history of %s does not show the result", id)
			}
		}
	}
	r.stop(rt)
	r.stop(w)

	// The failures really happened, and say why.
	for name, want := range map[string]string{
		"starter inference (provider echoes the key) stdout": "MODEL_CLIENT_ERROR",
		"starter inference (provider unreachable) stdout":    `"errorCode"`,
		"starter ledger balance (bad URL DSN) stderr":        "--ledger-dsn",
		"worker (bad key=value DSN) stderr":                  "--ledger-dsn",
	} {
		if !strings.Contains(string(r.outputs[name]), want) {
			t.Errorf("%s does not say %q:\n%s", name, want, r.outputs[name])
		}
	}
	if fake.RequestsFor(openaitest.KindCompletion) < 2 || len(r.outputs["data channel"]) == 0 {
		t.Fatalf("not every path ran: %d completions, %d data-channel bytes", fake.RequestsFor(openaitest.KindCompletion), len(r.outputs["data channel"]))
	}

	total := 0
	for _, o := range r.outputs {
		total += len(o)
	}
	found := findSecrets(secrets, r.outputs)
	for _, l := range found {
		t.Errorf("leak: %s", l)
	}
	if t.Failed() {
		dump, _ := json.MarshalIndent(names(r.outputs), "", " ")
		t.Logf("outputs searched: %s", dump)
	}
	t.Logf("searched %d outputs (%d bytes) of %d workflows for %d secrets: %d leaks", len(r.outputs), total, len(ids), len(secrets), len(found))
}

func names(m map[string][]byte) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s (%d bytes)", k, len(v)))
	}
	return out
}
