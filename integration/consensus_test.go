package integration

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/inferflow/inferflow/internal/logging"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/registry"
	"github.com/inferflow/inferflow/wire"
)

// consensusEnv is one test's worker, fake model server and starter client.
type consensusEnv struct {
	fake   *openaitest.Server
	client *inferflow.Client
	blobs  blob.Dir
}

func newConsensusEnv(t *testing.T) *consensusEnv {
	skipShort(t)
	fake := openaitest.New()
	t.Cleanup(fake.Close)
	models, err := provider.New(fake.Config())
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t)
	queue := uniqueQueue(t)
	blobs := blob.Dir{Root: t.TempDir()}
	startWorker(t, c, queue, func(w worker.Worker) {
		registry.Register(w, registry.Deps{Models: models, Blobs: blobs})
	})
	return &consensusEnv{fake: fake, blobs: blobs, client: &inferflow.Client{Temporal: c, TaskQueue: queue, Blobs: blobs}}
}

func itemImage(t testing.TB) []byte {
	data, err := os.ReadFile(filepath.Join(root, "testdata", "item-42.png"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (e *consensusEnv) run(t *testing.T, item string, opts *wire.ConsensusOptions) (wire.ConsensusResult, error) {
	t.Helper()
	ctx := ctxFor(t, 2*time.Minute)
	run, err := e.client.StartConsensus(ctx, inferflow.ConsensusRequest{ItemID: item, Image: itemImage(t), Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	var res wire.ConsensusResult
	err = run.Get(ctx, &res)
	return res, err
}

func wantFailure(t *testing.T, err error, code wire.Code, strategy wire.RetryStrategy) wire.ConsensusFailure {
	t.Helper()
	f, ok := inferflow.AsFailure(err)
	if !ok {
		t.Fatalf("want failure %s, got %v", code, err)
	}
	var d wire.ConsensusFailure
	if err := f.Details(&d); err != nil {
		t.Fatal(err)
	}
	if f.Code != code || d.RetryStrategy != strategy {
		t.Fatalf("got %s/%s, want %s/%s (%+v)", f.Code, d.RetryStrategy, code, strategy, d)
	}
	return d
}

func intp(v int) *int { return &v }

func TestConsensusHTTPSuccess(t *testing.T) {
	e := newConsensusEnv(t)
	e.fake.ForVision().SetDefault(openaitest.OK(120, 0.9))
	e.fake.ForJudge().SetDefault(openaitest.Judged(121, 0.95, "three close valuations"))
	res, err := e.run(t, "http-ok", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Degraded || len(res.Valuations) != 3 || res.Judge.ConsensusValue != 121 || res.Judge.ModelID != openaitest.DefaultJudgeModel {
		t.Fatalf("result = %+v", res)
	}
	last, _ := e.fake.Last(openaitest.KindVision)
	if last.MediaType != "image/png" || !bytes.Equal(last.Image, itemImage(t)) {
		t.Fatalf("the image did not reach the model intact: %s, %d bytes", last.MediaType, len(last.Image))
	}
	judge, _ := e.fake.Last(openaitest.KindJudge)
	if len(judge.Valuations) != 3 {
		t.Fatalf("judge saw %d valuations", len(judge.Valuations))
	}
}

func TestConsensusRateLimitedHonoursRetryAfter(t *testing.T) {
	e := newConsensusEnv(t)
	e.fake.ForVision().Enqueue(openaitest.RateLimited("2"))
	start := time.Now()
	res, err := e.run(t, "rate-limited", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Degraded || len(res.Valuations) != 3 {
		t.Fatalf("result = %+v", res)
	}
	if n := e.fake.RequestsFor(openaitest.KindVision); n != 4 {
		t.Fatalf("vision requests = %d, want 4 (one retry)", n)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("finished in %s: the 2 s Retry-After was not the retry delay", d)
	}
}

func TestConsensusServerErrorsAllFail(t *testing.T) {
	e := newConsensusEnv(t)
	e.fake.ForVision().SetDefault(openaitest.Status(503))
	_, err := e.run(t, "all-5xx", nil)
	d := wantFailure(t, err, wire.CodeVisionAllFailed, wire.RetryWithBackoff)
	if d.FailureSummary.TransientCount != 3 {
		t.Fatalf("summary = %+v", d.FailureSummary)
	}
	if n := e.fake.RequestsFor(openaitest.KindVision); n != 6 {
		t.Fatalf("vision requests = %d, want 6 (two attempts each)", n)
	}
}

func TestConsensusSlowCallsTimeOut(t *testing.T) {
	e := newConsensusEnv(t)
	e.fake.ForVision().SetDefault(openaitest.OK(1, 0.5).WithDelay(5 * time.Second))
	_, err := e.run(t, "slow", &wire.ConsensusOptions{VisionTimeoutMs: intp(1000)})
	d := wantFailure(t, err, wire.CodeVisionAllFailed, wire.RetryWithBackoff)
	for _, f := range d.Failures {
		if f.ErrorCode != "TIMEOUT" {
			t.Fatalf("failures = %+v", d.Failures)
		}
	}
	if err := e.fake.WaitAborted(ctxFor(t, 20*time.Second), 6); err != nil {
		t.Fatalf("timed-out calls were not aborted: %d of 6 (%v)", e.fake.Aborted(), err)
	}
}

func TestConsensusMalformedOutputIsNotRetried(t *testing.T) {
	e := newConsensusEnv(t)
	e.fake.ForVision().SetDefault(openaitest.Malformed())
	_, err := e.run(t, "malformed", nil)
	d := wantFailure(t, err, wire.CodeVisionAllFailed, wire.NoRetry)
	if d.FailureSummary.InvalidOutputCount != 3 || e.fake.RequestsFor(openaitest.KindVision) != 3 {
		t.Fatalf("summary = %+v, requests = %d", d.FailureSummary, e.fake.RequestsFor(openaitest.KindVision))
	}
}

func TestConsensusQuorumNotMetByClientErrors(t *testing.T) {
	e := newConsensusEnv(t)
	e.fake.ForVision().Enqueue(openaitest.Status(400), openaitest.Status(422))
	_, err := e.run(t, "client-errors", nil)
	d := wantFailure(t, err, wire.CodeQuorumNotMet, wire.NoRetry)
	if d.FailureSummary.ClientErrorCount != 2 || e.fake.RequestsFor(openaitest.KindJudge) != 0 {
		t.Fatalf("summary = %+v, judge requests = %d", d.FailureSummary, e.fake.RequestsFor(openaitest.KindJudge))
	}
}

func TestConsensusDegradedByOutOfRangeValuation(t *testing.T) {
	e := newConsensusEnv(t)
	e.fake.ForVision().Enqueue(openaitest.OutOfRange())
	res, err := e.run(t, "degraded", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Degraded || len(res.Valuations) != 2 {
		t.Fatalf("result = %+v", res)
	}
}

func TestConsensusJudgeOutOfRangeIsInvalidOutput(t *testing.T) {
	e := newConsensusEnv(t)
	e.fake.ForJudge().SetDefault(openaitest.OutOfRange())
	_, err := e.run(t, "judge-invalid", nil)
	d := wantFailure(t, err, wire.CodeJudgeInvalidOutput, wire.NoRetry)
	if d.JudgeErrorCode != "INVALID_OUTPUT" || e.fake.RequestsFor(openaitest.KindJudge) != 1 {
		t.Fatalf("details = %+v, judge requests = %d", d, e.fake.RequestsFor(openaitest.KindJudge))
	}
}

func TestConsensusJudgeTransientThenSuccess(t *testing.T) {
	e := newConsensusEnv(t)
	e.fake.ForJudge().Enqueue(openaitest.Status(500))
	if _, err := e.run(t, "judge-retry", nil); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.RequestsFor(openaitest.KindJudge); n != 2 {
		t.Fatalf("judge requests = %d, want 2", n)
	}
}

// maxCancelLatency is how late a cancellation may reach an HTTP call in
// flight: from the ActivityTaskCancelRequested event to the fake server
// seeing the client go away.
const maxCancelLatency = 250 * time.Millisecond

func TestConsensusEarlyCancelAbortsTheSlowCall(t *testing.T) {
	e := newConsensusEnv(t)
	e.fake.ForVision().Enqueue(openaitest.OK(10, 0.9), openaitest.OK(11, 0.9), openaitest.Hang())
	// A judge that takes a moment, as a real one does, so the run is still
	// open when the cancelled call reports back.
	e.fake.ForJudge().SetDefault(openaitest.Judged(10.5, 0.9, "two close valuations").WithDelay(time.Second))
	ctx := ctxFor(t, 2*time.Minute)
	run, err := e.client.StartConsensus(ctx, inferflow.ConsensusRequest{ItemID: "early-cancel", Image: itemImage(t),
		Options: &wire.ConsensusOptions{EarlyCancel: true}})
	if err != nil {
		t.Fatal(err)
	}
	var res wire.ConsensusResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Valuations) != 2 || res.Degraded {
		t.Fatalf("result = %+v", res)
	}
	// The cancel reaches the HTTP call through heartbeats; the fake server
	// must see the hanging request's client go away, quickly.
	if err := e.fake.WaitAborted(ctxFor(t, 30*time.Second), 1); err != nil {
		t.Fatalf("the slow call was not aborted: %v", err)
	}
	requested := eventTimes(t, e, run.GetID(), run.GetRunID(), enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED)
	if len(requested) != 1 {
		t.Fatalf("%d cancel requests in the history, want 1", len(requested))
	}
	checkCancelLatency(t, requested[0], e.fake.Received())
	// What the Web UI shows: the slow slot's activity is cancelled in the
	// history (README, "In the Web UI").
	if n := len(eventTimes(t, e, run.GetID(), run.GetRunID(), enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED)); n != 1 {
		t.Fatalf("%d ActivityTaskCanceled events, want 1", n)
	}
}

// eventTimes are the times of a run's history events of one type.
func eventTimes(t *testing.T, e *consensusEnv, id, runID string, typ enumspb.EventType) []time.Time {
	t.Helper()
	iter := e.client.Temporal.GetWorkflowHistory(ctxFor(t, 30*time.Second), id, runID, false, 0)
	var out []time.Time
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetEventType() == typ {
			out = append(out, ev.GetEventTime().AsTime())
		}
	}
	return out
}

// checkCancelLatency: every aborted request ended within maxCancelLatency
// of the cancel request.
func checkCancelLatency(t *testing.T, requested time.Time, reqs []openaitest.Request) {
	t.Helper()
	for _, r := range reqs {
		if !r.Aborted {
			continue
		}
		if d := r.AbortedAt.Sub(requested); d > maxCancelLatency {
			t.Errorf("request %s aborted %s after the cancel request, want at most %s", r.RequestID, d, maxCancelLatency)
		} else {
			t.Logf("request %s aborted %s after the cancel request", r.RequestID, d)
		}
	}
}

func TestConsensusWorkflowCancelAbortsCalls(t *testing.T) {
	e := newConsensusEnv(t)
	e.fake.ForVision().SetDefault(openaitest.Hang())
	ctx := ctxFor(t, time.Minute)
	run, err := e.client.StartConsensus(ctx, inferflow.ConsensusRequest{ItemID: "cancelled", Image: itemImage(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.fake.WaitRequests(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := e.client.Temporal.CancelWorkflow(ctx, run.GetID(), run.GetRunID()); err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		t.Fatalf("want a cancelled run, got %v", err)
	}
	if err := e.fake.WaitAborted(ctxFor(t, 30*time.Second), 3); err != nil {
		t.Fatalf("cancelled calls still running: %d of 3 aborted (%v)", e.fake.Aborted(), err)
	}
	requested := eventTimes(t, e, run.GetID(), run.GetRunID(), enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED)
	if len(requested) != 3 {
		t.Fatalf("%d cancel requests in the history, want 3", len(requested))
	}
	checkCancelLatency(t, requested[0], e.fake.Received())
}

func TestConsensusSecondStartAttaches(t *testing.T) {
	e := newConsensusEnv(t)
	ctx := ctxFor(t, time.Minute)
	first, err := e.client.StartConsensus(ctx, inferflow.ConsensusRequest{ItemID: "twice", Image: itemImage(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	calls := e.fake.Requests()
	second, err := e.client.StartConsensus(ctx, inferflow.ConsensusRequest{ItemID: "twice", Image: itemImage(t)})
	if err != nil {
		t.Fatal(err)
	}
	var res wire.ConsensusResult
	if err := second.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if !second.Attached || second.GetRunID() != first.GetRunID() || e.fake.Requests() != calls || res.ItemID != "twice" {
		t.Fatalf("second start: attached=%v run %s vs %s, requests %d vs %d", second.Attached, second.GetRunID(), first.GetRunID(), e.fake.Requests(), calls)
	}
}

// A failed evaluation may be started again under the same item id and runs
// anew; once one succeeded, a further start attaches to it and calls nothing.
func TestConsensusFailedEvaluationCanBeRetried(t *testing.T) {
	e := newConsensusEnv(t)
	e.fake.ForVision().SetDefault(openaitest.Status(503))
	ctx := ctxFor(t, 2*time.Minute)
	start := func() *inferflow.Run {
		t.Helper()
		run, err := e.client.StartConsensus(ctx, inferflow.ConsensusRequest{ItemID: "retry-me", Image: itemImage(t)})
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	failed := start()
	wantFailure(t, failed.Get(ctx, nil), wire.CodeVisionAllFailed, wire.RetryWithBackoff)

	e.fake.ForVision().SetDefault(openaitest.OK(100, 0.9))
	retried := start()
	if retried.Attached || retried.GetRunID() == failed.GetRunID() {
		t.Fatalf("the retry attached to the failed run %s", failed.GetRunID())
	}
	if err := retried.Get(ctx, nil); err != nil {
		t.Fatalf("retry: %v", err)
	}

	calls := e.fake.Requests()
	again := start()
	if err := again.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if !again.Attached || again.GetRunID() != retried.GetRunID() || e.fake.Requests() != calls {
		t.Fatalf("start after success: attached=%v run %s (want %s), requests %d (want %d)",
			again.Attached, again.GetRunID(), retried.GetRunID(), e.fake.Requests(), calls)
	}
}

func TestConsensusLargeImageTravelsByReference(t *testing.T) {
	e := newConsensusEnv(t)
	big := noisyPNG(t, 300)
	if len(big) <= inferflow.InlineImageLimit {
		t.Fatalf("test image is only %d bytes", len(big))
	}
	ctx := ctxFor(t, time.Minute)
	run, err := e.client.StartConsensus(ctx, inferflow.ConsensusRequest{ItemID: "big", Image: big})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	last, _ := e.fake.Last(openaitest.KindVision)
	if !bytes.Equal(last.Image, big) {
		t.Fatal("the model did not get the stored image")
	}
	// The history holds the reference, not the bytes.
	iter := e.client.Temporal.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, 0)
	total := 0
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		total += ev.Size()
	}
	if total > len(big)/4 {
		t.Fatalf("history is %d bytes for a %d byte image", total, len(big))
	}
}

func noisyPNG(t *testing.T, n int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	x := uint32(1)
	for i := range img.Pix {
		x = x*1664525 + 1013904223
		img.Pix[i] = uint8(x >> 24)
	}
	img.Set(0, 0, color.White)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A 429 that succeeds on retry is expected: the SDK logs the failed attempt
// below ERROR (a benign application error), and nothing is logged at ERROR.
func TestConsensusRetriedRateLimitIsNotAnError(t *testing.T) {
	skipShort(t)
	core, logs := observer.New(zap.DebugLevel)
	c, err := client.Dial(client.Options{HostPort: server.Address, Namespace: server.Namespace, Logger: logging.NewSDK(zap.New(core))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	fake := openaitest.New()
	t.Cleanup(fake.Close)
	models, err := provider.New(fake.Config())
	if err != nil {
		t.Fatal(err)
	}
	queue := uniqueQueue(t)
	startWorker(t, c, queue, func(w worker.Worker) { registry.Register(w, registry.Deps{Models: models}) })
	fake.ForVision().Enqueue(openaitest.RateLimited("0.1"))
	ctx := ctxFor(t, time.Minute)
	run, err := (&inferflow.Client{Temporal: c, TaskQueue: queue}).StartConsensus(ctx, inferflow.ConsensusRequest{ItemID: "benign", Image: itemImage(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	retried := 0
	for _, e := range logs.All() {
		if e.Level >= zap.ErrorLevel {
			t.Errorf("logged at %s: %s %v", e.Level, e.Message, e.ContextMap())
		}
		if e.Message == "Activity error." {
			retried++
		}
	}
	if retried != 1 {
		t.Errorf("%d SDK entries for the failed attempt, want 1 (at DEBUG)", retried)
	}
}
