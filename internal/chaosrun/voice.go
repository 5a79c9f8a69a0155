package chaosrun

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/inferflow/inferflow/internal/caller"
	"github.com/inferflow/inferflow/internal/chaoscheck"
	"github.com/inferflow/inferflow/internal/codec"
	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
)

var voiceStateAttr = workflows.VoiceStateKey.GetName()

// The voice part of a run (Config.RealtimeBin set): a realtime process
// whose VoiceSession workflows run on the run's task queue and bill its
// voice users, loopback callers streaming speech to it, and a fault that
// kills it with SIGKILL mid-call and starts it again.

const voiceUsers = 2

func voiceUser(i int) string  { return fmt.Sprintf("chaos-voice-u%d", i) }
func voiceToken(i int) string { return fmt.Sprintf("chaos-voice-token-%d", i) }

// realtimeProc is the supervised realtime process.
type realtimeProc struct {
	bin, dir, queue string
	server          TemporalServer
	listen          string // fixed across restarts, so callers keep the URL
	// instanceID is fixed across restarts too: a restarted process sweeps
	// the sessions its killed predecessor owned and closes them ORPHANED.
	instanceID string
	lease      time.Duration // --owner-lease
	// metrics is its /metrics address, fixed across restarts too: the run
	// reads its goroutines and live gates there.
	metrics string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	// up is closed while the process is ready for calls; a kill replaces
	// it, and callers wait on it, so that no call reaches a new process
	// before its idle reading is taken. Made with the realtimeProc.
	up chan struct{}
	// idle is the last start's reading, before any call; calls counts the
	// calls made to the process since then.
	idle  metricsReading
	calls int
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (p *realtimeProc) start(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(p.dir, "realtime.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	toks := make([]string, voiceUsers)
	for i := range toks {
		toks[i] = voiceToken(i) + ":" + voiceUser(i)
	}
	cmd := exec.Command(p.bin, "--instance-id", p.instanceID, "--owner-lease", p.lease.String())
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INFERFLOW_") && !strings.HasPrefix(kv, "TEMPORAL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"INFERFLOW_REALTIME_ADDR="+p.listen,
		"INFERFLOW_REALTIME_METRICS_ADDR="+p.metrics,
		"INFERFLOW_REALTIME_PPROF_ADDR=",
		"INFERFLOW_REALTIME_TOKENS="+strings.Join(toks, ","),
		"INFERFLOW_REALTIME_INCLUDE_LOOPBACK=true",
		"INFERFLOW_LOG_MODE=prod",
		"INFERFLOW_LOG_LEVEL=warn",
		"TEMPORAL_ADDRESS="+p.server.HostPort(),
		"TEMPORAL_NAMESPACE="+p.server.Namespace(),
		"INFERFLOW_TASK_QUEUE="+p.queue,
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start realtime: %w", err)
	}
	exited := make(chan struct{})
	go func() { // ends with the process
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	// Ready when the WHIP endpoint answers anything.
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.whipURL()+"/not-a-session", nil)
		req.Header.Set("Authorization", "Bearer "+voiceToken(0))
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			return p.opened(ctx)
		}
		select {
		case <-exited:
			return errors.New("realtime exited before it was ready (see realtime.log)")
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("realtime did not answer in time (see realtime.log)")
}

// opened takes the new process's idle reading and lets callers in.
func (p *realtimeProc) opened(ctx context.Context) error {
	idle, err := idleReading(ctx, p.metricsURL(), 1500*time.Millisecond)
	if err != nil {
		return fmt.Errorf("realtime started, but its metrics: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idle, p.calls = idle, 0
	select {
	case <-p.up:
	default:
		close(p.up)
	}
	return nil
}

// ready returns a channel closed while the process takes calls.
func (p *realtimeProc) ready() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up
}

// callStarted counts a call to the current process.
func (p *realtimeProc) callStarted() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
}

// closeForCalls makes new calls wait for the next start.
func (p *realtimeProc) closeForCalls() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.up:
		p.up = make(chan struct{})
	default:
	}
}

// idleCheck waits (until deadline) for the process to settle back to its
// idle reading once every call has ended, and returns what it read.
func (p *realtimeProc) idleCheck(ctx context.Context, deadline time.Time) (*chaoscheck.RealtimeIdle, error) {
	// The callers' idle keep-alive connections hold server goroutines.
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	p.mu.Lock()
	idle, calls := p.idle, p.calls
	p.mu.Unlock()
	end, err := awaitReading(ctx, p.metricsURL(), func(m metricsReading) bool {
		return m.liveGates == 0 && m.goroutines-idle.goroutines <= chaoscheck.GoroutineSlack
	}, deadline)
	if err != nil {
		return nil, err
	}
	return &chaoscheck.RealtimeIdle{Calls: calls, StartGoroutines: idle.goroutines, EndGoroutines: end.goroutines, LiveGates: end.liveGates}, nil
}

func (p *realtimeProc) metricsURL() string { return "http://" + p.metrics + "/metrics" }

func (p *realtimeProc) whipURL() string { return "http://" + p.listen + "/whip" }

func (p *realtimeProc) signal(sig syscall.Signal, wait time.Duration) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	p.closeForCalls()
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(-cmd.Process.Pid, sig)
	} else {
		_ = cmd.Process.Signal(sig)
	}
	select {
	case <-exited:
	case <-time.After(wait):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

// voiceCaller makes calls one after another until ctx ends, each a few
// seconds of speech from the fixture.
func (r *run) voiceCaller(ctx context.Context, n int, packets [][]byte) {
	rng := rand.New(rand.NewPCG(uint64(r.cfg.Seed), uint64(500+n)))
	for ctx.Err() == nil {
		select {
		case <-r.voice.ready():
		case <-ctx.Done():
			return
		}
		// 2–5 s of speech, from a random place in the fixture.
		k := 100 + rng.IntN(150)
		from := rng.IntN(max(1, len(packets)-k))
		pk := packets[from:min(len(packets), from+k)]
		r.voice.callStarted()
		cctx, cancel := context.WithTimeout(ctx, 40*time.Second)
		_, err := caller.Run(cctx, caller.Options{URL: r.voice.whipURL(), Token: voiceToken(n), Packets: pk, MaxTail: 8 * time.Second})
		cancel()
		r.mu.Lock()
		r.voiceCalls++
		if err != nil {
			r.voiceCallErrors++
		}
		r.mu.Unlock()
		_ = sleep(ctx, time.Duration(500+rng.IntN(1500))*time.Millisecond)
	}
}

// executions calls each for every run of workflow type typ on queue, as
// visibility lists them.
func (r *run) executions(ctx context.Context, typ, queue string, each func(*workflowpb.WorkflowExecutionInfo)) error {
	var token []byte
	for {
		resp, err := r.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         fmt.Sprintf("WorkflowType = '%s' AND TaskQueue = '%s'", typ, queue),
			NextPageToken: token,
		})
		if err != nil {
			return err
		}
		for _, e := range resp.GetExecutions() {
			each(e)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return nil
		}
	}
}

// voiceSessions lists the VoiceSession runs on the run's task queue.
func (r *run) voiceSessions(ctx context.Context, queue string) ([]chaoscheck.VoiceSession, error) {
	var out []chaoscheck.VoiceSession
	err := r.executions(ctx, wire.WorkflowVoiceSession, queue, func(e *workflowpb.WorkflowExecutionInfo) {
		var state string
		if p := e.GetSearchAttributes().GetIndexedFields()[voiceStateAttr]; p != nil {
			_ = converter.GetDefaultDataConverter().FromPayload(p, &state)
		}
		out = append(out, chaoscheck.VoiceSession{ID: e.GetExecution().GetWorkflowId(), Status: statusOf[e.GetStatus()], State: state})
	})
	return out, err
}

// trackVoiceReconciles adds to the run's workflows the reconciliations the
// voice sessions started (children on the run's task queue, found by
// visibility; the jobs' own, already tracked, are listed again and change
// nothing), so that the drain waits for them and the checks see them.
func (r *run) trackVoiceReconciles(ctx context.Context, queue string) error {
	return r.executions(ctx, wire.WorkflowReconcile, queue, func(e *workflowpb.WorkflowExecutionInfo) {
		id := e.GetExecution().GetWorkflowId()
		r.track(id, wire.WorkflowReconcile, e.GetExecution().GetRunId(), func(x *tracked) {
			x.jobID = strings.TrimPrefix(id, wire.ReconcileWorkflowID(""))
		})
	})
}

// settledVoiceSessions lists the voice sessions once none is running (the
// last calls hang up as the load ends; a killed process's sessions close
// ORPHANED within the owner lease; visibility lags its workflows a
// little), or at the deadline; settled says which.
func (r *run) settledVoiceSessions(ctx context.Context, queue string, deadline time.Time) (vs []chaoscheck.VoiceSession, settled bool, err error) {
	for {
		vs, err := r.voiceSessions(ctx, queue)
		if err != nil {
			return nil, false, err
		}
		open := 0
		for _, v := range vs {
			if v.Status == chaoscheck.Running {
				open++
			}
		}
		if open == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return vs, open == 0, nil
		}
		_ = sleep(ctx, 2*time.Second)
	}
}

// readFixture loads the callers' speech.
func readFixture(path string) ([][]byte, error) {
	pk, err := codec.ReadPacketFile(path)
	if err != nil {
		return nil, err
	}
	if len(pk) < 300 {
		return nil, fmt.Errorf("voice fixture %s: %d packets, want at least 300 (6 s)", path, len(pk))
	}
	return pk, nil
}
