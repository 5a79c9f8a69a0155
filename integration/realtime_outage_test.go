package integration

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/inferflow/inferflow/internal/caller"
	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/logging"
	"github.com/inferflow/inferflow/internal/realtimemodel"
	"github.com/inferflow/inferflow/internal/rtc"
	"github.com/inferflow/inferflow/internal/voice"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/workflows"
)

// Temporal goes away in the middle of a call and comes back: the call goes
// on (the caller is answered throughout), the response that could not be
// held goes ahead and is billed after the fact, and every record reaches
// the session's workflow once the server is back, in order.
func TestRealtimeCallSurvivesTemporalOutage(t *testing.T) {
	skipShort(t)
	cli, err := devserver.FindCLI(root)
	if err != nil {
		t.Fatal(err)
	}
	// A server of its own, on a database file, so it can stop and come
	// back with its state at the same address.
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	opts := devserver.Options{CLI: cli, EnvFile: filepath.Join(root, "temporal-dev.yaml"), Env: "dev", FreePorts: true,
		DBFile: filepath.Join(dir, "temporal.db"), Output: logf}
	start := func() *devserver.Server {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		s, err := devserver.Start(ctx, opts)
		if err != nil {
			t.Fatalf("start dev server: %v (log %s)", err, logf.Name())
		}
		return s
	}
	srv := start()
	opts.Ports = srv.Ports
	var mu sync.Mutex
	current := srv
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		_ = current.Stop()
	})

	ctx := ctxFor(t, 3*time.Minute)
	l, err := ledger.Open(ctx, ledger.Config{DSN: filepath.Join(dir, "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	user := fmt.Sprintf("outage-%d", time.Now().UnixNano())
	const credit = 1_000_000
	if err := l.Credit(ctx, user, credit, "seed-"+user); err != nil {
		t.Fatal(err)
	}
	sdkLog := logging.NewSDK(zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	wc, err := client.Dial(client.Options{HostPort: srv.Address, Namespace: srv.Namespace, Logger: sdkLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wc.Close)
	queue := uniqueQueue(t)
	w := worker.New(wc, queue, worker.Options{})
	registry.Register(w, registry.Deps{Ledger: l, Environment: "test"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	// The realtime process's client is lazy, as in realtime/main.go.
	rc, err := client.NewLazyClient(client.Options{HostPort: srv.Address, Namespace: srv.Namespace, Logger: sdkLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	calls, err := voice.NewCalls(voice.CallsConfig{
		RTC:       rtc.Config{Tokens: map[string]string{voiceToken: user}, Network: loopback(t)},
		Session:   voice.Config{ReserveTimeout: 500 * time.Millisecond},
		TaskQueue: queue, ModelID: "offline-small", Temporal: rc,
		NewModel: func(_ context.Context, id string) (realtimemodel.Upstream, error) {
			return realtimemodel.NewSimulated(realtimemodel.SimConfig{SessionID: id})
		},
		CloseTimeout: 60 * time.Second,
		Logger:       zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(calls.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_ = calls.Close(ctx)
	})

	// When the first answer is done, stop the server; bring it back once the
	// second answer has gone ahead without a hold (billing.unavailable), so
	// that hold cannot have reached the server.
	outage, unheld := make(chan struct{}), make(chan struct{})
	var once, onceUnheld sync.Once
	restarted := make(chan struct{})
	go func() {
		select {
		case <-outage:
		case <-ctx.Done():
			return
		}
		mu.Lock()
		_ = current.Stop()
		mu.Unlock()
		select {
		case <-unheld:
		case <-time.After(30 * time.Second):
		case <-ctx.Done():
			return
		}
		s := start()
		mu.Lock()
		current = s
		mu.Unlock()
		close(restarted)
	}()
	res, err := caller.Run(ctx, caller.Options{URL: hs.URL + rtc.WHIPPath, Token: voiceToken, Packets: callPackets(t, 175, 150),
		OnMessage: func(m voice.Message) {
			switch m.Type {
			case voice.MsgResponseDone:
				once.Do(func() { close(outage) })
			case voice.MsgBillingDegraded:
				onceUnheld.Do(func() { close(unheld) })
			}
		}})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	select {
	case <-restarted:
	case <-ctx.Done():
		t.Fatal("the dev server did not come back")
	}
	if n := res.Count(voice.MsgResponseDone); n != 2 {
		t.Fatalf("caller saw %d answers, want 2: the call must go on while Temporal is down (events %+v)", n, res.Messages)
	}
	if res.Count(voice.MsgBillingDegraded) == 0 {
		t.Errorf("no billing.unavailable: the second response should have gone ahead unheld")
	}
	var wfID string
	for _, m := range res.Messages {
		if m.Type == voice.MsgSessionStarted {
			wfID = m.WorkflowID
		}
	}
	var sum workflows.VoiceSummary
	if err := wc.GetWorkflow(ctx, wfID, "").Get(ctx, &sum); err != nil {
		t.Fatalf("VoiceSession %s after the outage: %v", wfID, err)
	}
	if sum.Totals.Turns != 2 || sum.Totals.Completed != 2 || sum.Totals.Captured != 2 || sum.Totals.BilledLate != 1 {
		t.Errorf("totals = %+v, want 2 turns, 2 completed and captured, 1 billed after the fact", sum.Totals)
	}
	e := &realtimeEnv{ledger: l, user: user, credit: credit}
	e.checkLedger(t, res, sum)
}
