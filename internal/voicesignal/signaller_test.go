package voicesignal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/inferflow/inferflow/workflows"
)

// call is one RPC the fake server accepted.
type call struct {
	method string // "start" (signal-with-start) or "signal"
	name   string
	seq    uint64
}

// fakeClient is a Temporal frontend that can be down, remembers whether the
// workflow runs, and answers updates by script.
type fakeClient struct {
	mu       sync.Mutex
	down     bool
	running  bool
	calls    []call
	attempts []time.Time // every signal attempt, failed ones included
	update   func(ctx context.Context, req workflows.ReserveResponseRequest) (workflows.ReserveResponseResult, error)
	conflict enumspb.WorkflowIdConflictPolicy
}

var errDown = serviceerror.NewUnavailable("connection refused")

func (f *fakeClient) attempt(method string, name string, arg any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts = append(f.attempts, time.Now())
	if f.down {
		return errDown
	}
	if method == "signal" && !f.running {
		return serviceerror.NewNotFound("workflow not found")
	}
	f.running = true
	f.calls = append(f.calls, call{method: method, name: name, seq: arg.(workflows.VoiceSignal).Meta().Seq})
	return nil
}

func (f *fakeClient) SignalWithStartWorkflow(_ context.Context, _ string, name string, arg any,
	_ client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	return nil, f.attempt("start", name, arg)
}

func (f *fakeClient) SignalWorkflow(_ context.Context, _ string, _ string, name string, arg any) error {
	return f.attempt("signal", name, arg)
}

func (f *fakeClient) NewWithStartWorkflowOperation(opts client.StartWorkflowOptions, _ any, _ ...any) client.WithStartWorkflowOperation {
	f.mu.Lock()
	f.conflict = opts.WorkflowIDConflictPolicy
	f.mu.Unlock()
	return nil
}

func (f *fakeClient) UpdateWithStartWorkflow(ctx context.Context, o client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return nil, errDown
	}
	req := o.UpdateOptions.Args[0].(workflows.ReserveResponseRequest)
	res, err := f.update(ctx, req)
	return handle{res: res, err: err}, nil
}

func (f *fakeClient) setDown(v bool) {
	f.mu.Lock()
	f.down = v
	f.mu.Unlock()
}

func (f *fakeClient) accepted() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

type handle struct {
	res workflows.ReserveResponseResult
	err error
}

func (handle) WorkflowID() string { return "voice-s1" }
func (handle) RunID() string      { return "run" }
func (handle) UpdateID() string   { return "u" }
func (h handle) Get(_ context.Context, v any) error {
	if h.err != nil {
		return h.err
	}
	*v.(*workflows.ReserveResponseResult) = h.res
	return nil
}

func newSignaller(t *testing.T, f *fakeClient, buffer int) *Signaller {
	t.Helper()
	s, err := New(Config{Client: f, TaskQueue: "q", Session: workflows.VoiceSessionInput{SessionID: "s1", UserID: "u1"},
		Buffer: buffer, MinBackoff: 2 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, UpdateTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Close(ctx) // a test that leaves Temporal down gives up
	})
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func names(calls []call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.name)
	}
	return out
}

func TestSignallerDeliversInOrder(t *testing.T) {
	f := &fakeClient{}
	s := newSignaller(t, f, 64)
	var want []string
	for i := range 20 {
		var sig workflows.VoiceSignal = &workflows.TurnStarted{TurnID: fmt.Sprint("t", i)}
		if i%2 == 1 {
			sig = &workflows.TurnEnded{TurnID: fmt.Sprint("t", i-1)}
		}
		if err := s.Send(sig); err != nil {
			t.Fatal(err)
		}
		want = append(want, string(sig.SignalName()))
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := f.accepted()
	want = append(want, string(workflows.SignalSessionClosed)) // Close sends it
	if !slices.Equal(names(got), want) {
		t.Fatalf("delivered %v\nwant %v", names(got), want)
	}
	for i, c := range got {
		if c.seq != uint64(i+1) {
			t.Fatalf("call %d has seq %d", i, c.seq)
		}
		if wantMethod := map[bool]string{true: "start", false: "signal"}[i == 0]; c.method != wantMethod {
			t.Fatalf("call %d by %s, want %s", i, c.method, wantMethod)
		}
	}
	if st := s.Stats(); st.Sent != 21 || st.Dropped != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Send(&workflows.Interruption{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
}

func TestSignallerRetriesWithBackoffThenDeliversInOrder(t *testing.T) {
	f := &fakeClient{down: true}
	s := newSignaller(t, f, 64)
	sigs := []workflows.VoiceSignal{&workflows.TurnStarted{TurnID: "t1"}, &workflows.TurnEnded{TurnID: "t1"},
		&workflows.ResponseStarted{ResponseID: "r1"}, &workflows.ResponseDone{ResponseID: "r1", Status: workflows.ResponseCompleted}}
	for _, sig := range sigs {
		start := time.Now()
		if err := s.Send(sig); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Fatalf("Send blocked %s while Temporal was down", d)
		}
	}
	waitFor(t, "six failed attempts", func() bool { return s.Stats().Retried >= 6 })
	if got := f.accepted(); len(got) != 0 {
		t.Fatalf("delivered while down: %v", got)
	}
	// While deliveries fail, a hold is not even asked for.
	if _, err := s.ReserveResponse(context.Background(), workflows.ReserveResponseRequest{ResponseID: "r2"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("reserve while down: %v", err)
	}
	f.mu.Lock()
	at := slices.Clone(f.attempts)
	f.mu.Unlock()
	first, later := at[1].Sub(at[0]), at[len(at)-1].Sub(at[len(at)-2])
	if later <= first {
		t.Fatalf("backoff did not grow: first gap %s, last gap %s", first, later)
	}

	f.setDown(false)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"turn-started", "turn-ended", "response-started", "response-done", "session-closed"}
	if got := names(f.accepted()); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if st := s.Stats(); st.Sent != 5 || st.Retried < 6 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSignallerBoundedBufferDropsLeastUseful(t *testing.T) {
	f := &fakeClient{down: true}
	s := newSignaller(t, f, 3)
	send := func(sig workflows.VoiceSignal) {
		t.Helper()
		if err := s.Send(sig); err != nil {
			t.Fatal(err)
		}
	}
	send(&workflows.TurnStarted{TurnID: "t1"}) // taken by the delivery goroutine and retried
	waitFor(t, "the first signal in flight", func() bool { return s.Stats().Retried >= 1 })

	queued := func() []string {
		s.mu.Lock()
		defer s.mu.Unlock()
		var out []string
		for _, q := range s.queue {
			out = append(out, string(q.SignalName())+":"+label(q))
		}
		return out
	}
	steps := []struct {
		sig       workflows.VoiceSignal
		dropped   uint64
		coalesced uint64
		queue     []string // what waits after the step, oldest first
	}{
		{&workflows.GateSnapshot{TurnState: "a"}, 0, 0, []string{"gate-snapshot:a"}},
		// A newer snapshot replaces the waiting one.
		{&workflows.GateSnapshot{TurnState: "b"}, 0, 1, []string{"gate-snapshot:b"}},
		{&workflows.TurnEnded{TurnID: "t1"}, 0, 1, []string{"gate-snapshot:b", "turn-ended:t1"}},
		{&workflows.ResponseDone{ResponseID: "r1", Status: workflows.ResponseCompleted}, 0, 1,
			[]string{"gate-snapshot:b", "turn-ended:t1", "response-done:r1"}},
		// Full: the snapshot goes first.
		{&workflows.Interruption{ResponseID: "r1"}, 1, 1, []string{"turn-ended:t1", "response-done:r1", "interruption:r1"}},
		// A snapshot ranks below everything waiting: it is dropped itself.
		{&workflows.GateSnapshot{TurnState: "c"}, 2, 1, []string{"turn-ended:t1", "response-done:r1", "interruption:r1"}},
		// Then the oldest turn record, before any response-done.
		{&workflows.TurnStarted{TurnID: "t2"}, 3, 1, []string{"response-done:r1", "interruption:r1", "turn-started:t2"}},
		{&workflows.TurnStarted{TurnID: "t3"}, 4, 1, []string{"response-done:r1", "turn-started:t2", "turn-started:t3"}},
		// Session-closed always gets in.
		{&workflows.SessionClosed{Reason: "bye"}, 5, 1, []string{"response-done:r1", "turn-started:t3", "session-closed:bye"}},
	}
	for i, st := range steps {
		send(st.sig)
		if got := s.Stats(); got.Dropped != st.dropped || got.Coalesced != st.coalesced || got.Pending != len(st.queue)+1 {
			t.Fatalf("step %d (%s): stats %+v, want dropped %d coalesced %d", i, st.sig.SignalName(), got, st.dropped, st.coalesced)
		}
		if got := queued(); !slices.Equal(got, st.queue) {
			t.Fatalf("step %d (%s): queue %v, want %v", i, st.sig.SignalName(), got, st.queue)
		}
	}
	if err := s.Send(&workflows.TurnStarted{TurnID: "t4"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after session-closed: %v", err)
	}
	f.setDown(false)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"turn-started", "response-done", "turn-started", "session-closed"}
	if got := names(f.accepted()); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}

// label names a queued signal for the buffer test.
func label(sig workflows.VoiceSignal) string {
	switch v := sig.(type) {
	case *workflows.GateSnapshot:
		return v.TurnState
	case *workflows.TurnStarted:
		return v.TurnID
	case *workflows.TurnEnded:
		return v.TurnID
	case *workflows.ResponseDone:
		return v.ResponseID
	case *workflows.Interruption:
		return v.ResponseID
	case *workflows.SessionClosed:
		return v.Reason
	}
	return "?"
}

func TestSignallerSendNeverBlocks(t *testing.T) {
	f := &fakeClient{down: true}
	s := newSignaller(t, f, 16)
	start := time.Now()
	for i := range 10_000 {
		if err := s.Send(&workflows.TurnStarted{TurnID: fmt.Sprint("t", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("10k sends took %s", d)
	}
	if st := s.Stats(); st.Pending > 17 || st.Dropped < 10_000-17 {
		t.Fatalf("stats %+v: the buffer is not bounded", st)
	}
}

func TestSignallerCloseGivesUpWithinContext(t *testing.T) {
	f := &fakeClient{down: true}
	s := newSignaller(t, f, 8)
	_ = s.Send(&workflows.TurnStarted{TurnID: "t1"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Close(ctx)
	if !errors.Is(err, ErrNotFlushed) || time.Since(start) > time.Second {
		t.Fatalf("close: %v after %s", err, time.Since(start))
	}
	// The goroutine has stopped: nothing is attempted after Close returns.
	f.mu.Lock()
	n := len(f.attempts)
	f.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.attempts) != n {
		t.Fatalf("%d attempts after Close returned", len(f.attempts)-n)
	}
}

func TestSignallerRestartsEndedWorkflow(t *testing.T) {
	f := &fakeClient{}
	s := newSignaller(t, f, 8)
	_ = s.Send(&workflows.TurnStarted{TurnID: "t1"})
	waitFor(t, "first delivery", func() bool { return s.Stats().Sent == 1 })
	f.mu.Lock()
	f.running = false // the session timed out
	f.mu.Unlock()
	_ = s.Send(&workflows.TurnEnded{TurnID: "t1"})
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := f.accepted()
	if len(got) != 3 || got[0].method != "start" || got[1].method != "start" || got[2].method != "signal" {
		t.Fatalf("calls %+v: want start, start again after not-found, then signal", got)
	}
}

func TestReserveResponse(t *testing.T) {
	held := workflows.ReserveResponseResult{OK: true, ReservationID: "res_1", HeldAmount: 605}
	refused := workflows.ReserveResponseResult{OK: false, Reason: "INSUFFICIENT_CREDITS"}
	tests := []struct {
		name    string
		update  func(ctx context.Context, req workflows.ReserveResponseRequest) (workflows.ReserveResponseResult, error)
		req     workflows.ReserveResponseRequest
		want    workflows.ReserveResponseResult
		wantErr error
	}{
		{name: "held", req: workflows.ReserveResponseRequest{ResponseID: "r1"},
			update: func(context.Context, workflows.ReserveResponseRequest) (workflows.ReserveResponseResult, error) {
				return held, nil
			}, want: held},
		{name: "refused is a result, not an error", req: workflows.ReserveResponseRequest{ResponseID: "r1"},
			update: func(context.Context, workflows.ReserveResponseRequest) (workflows.ReserveResponseResult, error) {
				return refused, nil
			}, want: refused},
		{name: "no answer within the update timeout", req: workflows.ReserveResponseRequest{ResponseID: "r1"},
			update: func(ctx context.Context, _ workflows.ReserveResponseRequest) (workflows.ReserveResponseResult, error) {
				<-ctx.Done()
				return workflows.ReserveResponseResult{}, ctx.Err()
			}, wantErr: ErrUnavailable},
		{name: "rejected by the validator", req: workflows.ReserveResponseRequest{ResponseID: "r1"},
			update: func(context.Context, workflows.ReserveResponseRequest) (workflows.ReserveResponseResult, error) {
				return workflows.ReserveResponseResult{}, temporal.NewApplicationError("response already done", "")
			}, wantErr: ErrRejected},
		{name: "invalid request", req: workflows.ReserveResponseRequest{}, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeClient{update: tt.update}
			s := newSignaller(t, f, 8)
			start := time.Now()
			got, err := s.ReserveResponse(context.Background(), tt.req)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
			if time.Since(start) > time.Second {
				t.Fatalf("took %s, over the update timeout", time.Since(start))
			}
			if tt.wantErr == nil && f.conflict != enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING {
				t.Fatalf("update-with-start conflict policy %v", f.conflict)
			}
		})
	}
	f := &fakeClient{}
	s := newSignaller(t, f, 8)
	_ = s.Send(&workflows.SessionClosed{})
	if _, err := s.ReserveResponse(context.Background(), workflows.ReserveResponseRequest{ResponseID: "r9"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after session-closed: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	ok := Config{Client: &fakeClient{}, TaskQueue: "q", Session: workflows.VoiceSessionInput{SessionID: "s", UserID: "u"}}
	for _, mutate := range []func(*Config){
		func(c *Config) { c.Client = nil },
		func(c *Config) { c.TaskQueue = "" },
		func(c *Config) { c.Session.SessionID = "" },
		func(c *Config) { c.Session.UserID = " " },
		func(c *Config) { c.Buffer = MaxBuffer + 1 },
		func(c *Config) { c.SendTimeout = -time.Second },
		func(c *Config) { c.Session.Carry = &workflows.VoiceCarry{} },
		func(c *Config) { c.Session.Options = &workflows.VoiceOptions{MaxSignalsPerRun: -1} },
	} {
		c := ok
		mutate(&c)
		if s, err := New(c); err == nil {
			_ = s.Close(context.Background())
			t.Errorf("config %+v accepted", c)
		}
	}
	s, err := New(ok)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil signal: %v", err)
	}
	_ = s.Close(context.Background())
}
