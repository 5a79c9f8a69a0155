package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/inferflow/inferflow/internal/caller"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/voice"
	"github.com/inferflow/inferflow/internal/voicesignal"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/workflows"
)

// The realtime process (bin/realtime) is stopped mid-call while a
// response's hold is placed and the response still in flight. Killed (-9),
// it can send nothing more: its session closes ORPHANED within the owner
// lease and releases the hold, instead of holding it for the 30 minute
// inactivity timeout. Stopped gracefully (SIGTERM), it ends its calls: the
// session gets session-closed and closes CLOSED at once, before any lease
// could lapse. Either way the ledger is as before the call, less what was
// captured.
func TestRealtimeStoppedMidCallReleasesHolds(t *testing.T) {
	skipShort(t)
	loopback(t) // the call needs a loopback interface
	bin := buildBinary(t, "./realtime")
	for _, tt := range []stopCase{
		{name: "kill -9: ORPHANED within the lease", sig: syscall.SIGKILL, lease: 3 * time.Second, state: workflows.VoiceOrphaned,
			within: 3*time.Second + 5*time.Second, reason: "realtime process lost"},
		{name: "SIGTERM: session-closed, CLOSED before the lease", sig: syscall.SIGTERM, lease: 30 * time.Second, state: workflows.VoiceClosed,
			within: 15 * time.Second},
		// A 60 s lease, and the process started again under the same
		// instance id: its start-up sweep closes what it lost, well before
		// the lease would.
		{name: "kill -9 and restart: the new process closes it ORPHANED", sig: syscall.SIGKILL, lease: time.Minute, restart: true,
			state: workflows.VoiceOrphaned, within: 20 * time.Second, reason: voicesignal.OrphanReason},
	} {
		t.Run(tt.name, func(t *testing.T) { stopMidCall(t, bin, tt) })
	}
}

type stopCase struct {
	name    string
	sig     syscall.Signal
	lease   time.Duration
	restart bool // start the process again, same instance id, after the signal
	state   workflows.VoiceState
	// within is how soon after the signal the session must close; reason
	// is part of its close reason.
	within time.Duration
	reason string
}

// waitLog waits until the process has logged line.
func waitLog(t *testing.T, p *leakProc, line string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr.String()+p.stdout.String(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never logged %q", p.name, line)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stopMidCall(t *testing.T, bin string, tt stopCase) {
	sig, lease, state, within := tt.sig, tt.lease, tt.state, tt.within
	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Config{DSN: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	const credit = 1_000_000
	user := fmt.Sprintf("lease-%d", time.Now().UnixNano())
	if err := l.Credit(ctx, user, credit, "seed-"+user); err != nil {
		t.Fatal(err)
	}
	c := dial(t)
	queue := uniqueQueue(t)
	startWorker(t, c, queue, func(w worker.Worker) { registry.Register(w, registry.Deps{Ledger: l, Environment: "test"}) })

	env := []string{"TEMPORAL_ADDRESS=" + server.Address, "TEMPORAL_NAMESPACE=" + server.Namespace,
		"INFERFLOW_TASK_QUEUE=" + queue, "INFERFLOW_REALTIME_TOKENS=" + voiceToken + ":" + user}
	for _, k := range []string{"INFERFLOW_PAYLOAD_KEYS", "INFERFLOW_PAYLOAD_KEYS_FILE"} { // the suite's keys, if any
		if v := os.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	listen := freeAddr(t)
	owner := "rt-" + randomHex(t)
	r := &leakRun{t: t, outputs: map[string][]byte{}}
	// The simulated model takes 3 s to answer: the kill lands while the
	// response is held and not done.
	args := []string{"--listen", listen, "--metrics-addr", "", "--instance-id", owner, "--owner-lease", lease.String(), "--sim-latency", "3s"}
	rt := r.start("realtime", bin, cleanEnv(env...), args...)
	waitHTTP(t, rt, "http://"+listen+"/")
	// The sweep of the process's start has found the VoiceOwner attribute
	// registered before the call: its session is indexed.
	waitLog(t, rt, "restart sweep done")

	held := make(chan string, 1) // the workflow id, once a response started
	var once sync.Once
	var wfID string
	callCtx, hangUp := context.WithTimeout(ctx, 2*time.Minute)
	defer hangUp()
	callDone := make(chan struct{})
	go func() {
		defer close(callDone)
		_, _ = caller.Run(callCtx, caller.Options{URL: "http://" + listen + "/whip", Token: voiceToken, Packets: callPackets(t, 175, 25),
			OnMessage: func(m voice.Message) {
				switch {
				case m.Type == voice.MsgSessionStarted:
					wfID = m.WorkflowID
				case m.Type == voice.MsgResponseStarted: // its hold is placed before the model is asked
					once.Do(func() { held <- wfID })
				}
			}})
	}()
	var id string
	select {
	case id = <-held:
	case <-callDone:
		t.Fatalf("the call ended before a response was held: %s", rt.stderr.String())
	case <-time.After(time.Minute):
		t.Fatal("no response held within a minute")
	}
	if id == "" {
		t.Fatal("no workflow id in session.started")
	}
	holds, err := l.Holds(ctx, user)
	if err != nil || len(holds) == 0 || holds[len(holds)-1].Status != ledger.HoldActive {
		t.Fatalf("holds %+v, %v: want the response's hold active", holds, err)
	}

	stopped := time.Now()
	if err := syscall.Kill(rt.cmd.Process.Pid, sig); err != nil {
		t.Fatal(err)
	}
	if tt.restart {
		<-rt.done
		again := r.start("realtime (restarted)", bin, cleanEnv(env...), args...)
		waitHTTP(t, again, "http://"+listen+"/")
	}
	var sum workflows.VoiceSummary
	waitCtx, cancel := context.WithTimeout(ctx, within+30*time.Second) // fail by the check below, not a hang
	defer cancel()
	if err := c.GetWorkflow(waitCtx, id, "").Get(waitCtx, &sum); err != nil {
		t.Fatalf("VoiceSession %s: %v", id, err)
	}
	took := time.Since(stopped)
	t.Logf("%s: closed %s after %s: %s (%q), totals %+v", id, sum.State, took.Round(time.Millisecond), sum.CloseReason, sum.Owner, sum.Totals)
	if sum.State != state || sum.Owner != owner {
		t.Errorf("state %s owned by %q, want %s owned by %s", sum.State, sum.Owner, state, owner)
	}
	if took > within {
		t.Errorf("closed %s after the signal, want within %s", took.Round(time.Millisecond), within)
	}
	if !strings.Contains(sum.CloseReason, tt.reason) {
		t.Errorf("close reason %q, want it to say %q", sum.CloseReason, tt.reason)
	}
	if sum.Totals.Released < 1 || sum.HeldAmount != 0 || len(sum.OpenResponses) != 0 {
		t.Errorf("totals %+v, held %d, open %v: want the hold released", sum.Totals, sum.HeldAmount, sum.OpenResponses)
	}
	select {
	case <-rt.done:
	case <-time.After(30 * time.Second):
		t.Errorf("realtime still running 30 s after %s", sig)
	}

	// The ledger: nothing held, the credit is whole less what was captured.
	b, err := l.Balance(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if b.Held != 0 || b.Spent != sum.Totals.BilledTotal || b.Available+b.Spent != credit {
		t.Errorf("balance %+v, want nothing held and %d spent of %d", b, sum.Totals.BilledTotal, credit)
	}
	if holds, err = l.Holds(ctx, user); err != nil {
		t.Fatal(err)
	}
	for _, h := range holds {
		if h.Status == ledger.HoldActive {
			t.Errorf("hold %s still active", h.ID)
		}
	}
	hangUp()
	<-callDone
}
