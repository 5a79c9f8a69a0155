package integration

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
)

// The binaries find Temporal from the standard variables alone: with only
// TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE set (no flag, no config file, no
// other TEMPORAL_* variable) the worker and the starter run a billed job
// in a namespace of their own, which a default-namespace client would not
// see.
func TestBinariesReachServerFromEnvironment(t *testing.T) {
	skipShort(t)
	n := randomHex(t)
	ns := "env-only-" + n
	cli, err := devserver.FindCLI(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t, 3*time.Minute)
	if out, err := exec.CommandContext(ctx, cli, "operator", "namespace", "create", "--namespace", ns,
		"--address", server.Address).CombinedOutput(); err != nil {
		t.Fatalf("create namespace %s: %v\n%s", ns, err, out)
	}
	c, err := client.Dial(client.Options{HostPort: server.Address, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// A new namespace takes a moment to reach every service.
	for {
		if _, err := c.DescribeTaskQueue(ctx, "probe", enumspb.TASK_QUEUE_TYPE_WORKFLOW); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the new namespace never became usable")
		case <-time.After(200 * time.Millisecond):
		}
	}

	dir := t.TempDir()
	// Only the two connection variables; the rest is where the data goes.
	// HOME and XDG_CONFIG_HOME point at an empty folder, so no
	// temporal.toml profile is read either.
	env := cleanEnv(
		"TEMPORAL_ADDRESS="+server.Address, "TEMPORAL_NAMESPACE="+ns,
		"HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"INFERFLOW_LEDGER_DSN="+filepath.Join(dir, "ledger.db"), "INFERFLOW_BLOB_DIR="+filepath.Join(dir, "blobs"),
	)
	r := &leakRun{t: t, outputs: map[string][]byte{}}
	worker, starter := buildBinary(t, "./worker"), buildBinary(t, "./starter")
	if out, code := r.run("credit", starter, env, "ledger", "credit", "--user", "envonly", "--amount", "1000000", "--key", "seed-"+n); code != 0 {
		t.Fatalf("credit: exit %d: %s", code, out)
	}
	// Flags for what is not the connection: nothing else listens.
	w := r.start("worker", worker, env, "--metrics-addr", "", "--codec-addr", "")
	// The worker adds the search attributes the namespace lacks; the job
	// needs them at its start.
	for {
		list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
		if err == nil && len(list.GetCustomAttributes()) >= len(workflows.SearchAttributes) {
			break
		}
		select {
		case <-ctx.Done():
			r.stop(w)
			t.Fatalf("the worker never added the search attributes: %s", r.outputs["worker stderr"])
		case <-w.done:
			r.stop(w)
			t.Fatalf("the worker exited: %s", r.outputs["worker stderr"])
		case <-time.After(200 * time.Millisecond):
		}
	}
	job := "env-only-" + n
	out, code := r.run("starter inference", starter, env, "inference", "--user", "envonly", "--job", job,
		"--prompt-tokens", "10", "--prompt", "hello", "--wait")
	if code != 0 {
		r.stop(w)
		t.Fatalf("starter inference: exit %d: %s\nworker: %s", code, out, r.outputs["worker stderr"])
	}
	var res wire.InferenceResult
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &res); err != nil || !res.Success {
		t.Fatalf("result %+v (%v) from %s", res, err, out)
	}
	// The job ran in that namespace.
	desc, err := c.DescribeWorkflow(ctx, wire.InferenceWorkflowID(job), "")
	if err != nil {
		t.Fatalf("job in namespace %s: %v", ns, err)
	}
	if st := desc.RawResponse.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Fatalf("job in namespace %s: %v", ns, st)
	}
	r.stop(w)
	if strings.Contains(string(r.outputs["worker stderr"]), "cannot list") {
		t.Errorf("the dev server lets the worker list search attributes, yet it warned:\n%s", r.outputs["worker stderr"])
	}
}
