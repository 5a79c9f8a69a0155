package voice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/inferflow/inferflow/gate"
	"github.com/inferflow/inferflow/internal/realtimemodel"
)

// control is the session's conversation logic. It runs on one goroutine
// (Run's), so its state needs no lock: turns from the gate's state
// transitions, one response at a time, billing before each response,
// barge-ins, and what the caller and the workflow are told.
type control struct {
	s   *Session
	ctx context.Context // the call's; ends with it

	turn      int
	inTurn    bool
	turnStart time.Time
	// pending: a turn ended with audio the model has not answered yet; it
	// is committed once no response is active and the barrier is open.
	pending bool

	seq    int // the session's response numbers, 1, 2, ...
	active *response

	barrierClosed bool
	responses     int
	interrupts    int
	refused       int
}

type response struct {
	seq       int
	id        string // the model's id, once response.created arrived
	billed    bool
	cancelled bool
}

func newControl(s *Session) *control { return &control{s: s} }

func (c *control) loop(ctx context.Context) {
	c.ctx = ctx
	figures := time.NewTicker(c.s.cfg.FiguresEvery)
	defer figures.Stop()
	snapshots := time.NewTicker(c.s.cfg.SnapshotEvery)
	defer snapshots.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-c.s.gateEvents:
			c.onGate(ctx, e)
		case ev := <-c.s.modelEvents:
			c.onModel(ev)
		case <-figures.C:
			c.sendFigures()
		case <-snapshots.C:
			f := c.s.figures(c.s.g.Snapshot())
			c.s.deps.Recorder.Record(Record{Kind: RecordSnapshot, At: time.Now(), Snapshot: &f})
		}
		c.maybeRespond(ctx)
	}
}

func (c *control) onGate(ctx context.Context, e gate.Event) {
	switch e.Type {
	case gate.EventStateTransition:
		c.s.send(Message{Type: MsgGateState, State: string(e.NextState), Previous: string(e.PreviousState), Reason: e.Reason})
		if e.PreviousState == gate.StateIdle && !c.inTurn {
			c.startTurn(e.At)
		}
	case gate.EventTurnEnded:
		if c.inTurn {
			c.endTurn(c.turnStart.Add(e.Duration))
		}
	case gate.EventBarrierForcedOpen:
		closed := false
		c.barrierClosed = false
		c.s.send(Message{Type: MsgGateBarrier, Closed: &closed, Reason: e.Reason})
	case gate.EventInterruption:
		c.interrupt(ctx)
	}
}

func (c *control) startTurn(at time.Time) {
	c.turn++
	c.inTurn, c.turnStart = true, at
	c.s.stats.turnFrames.Store(0)
	c.s.deps.Recorder.Record(Record{Kind: RecordTurnStarted, At: at, Turn: c.turn})
	c.s.send(Message{Type: MsgTurnStarted, Turn: c.turn})
	c.s.viewMu.Lock()
	c.s.view.Turns = c.turn
	c.s.viewMu.Unlock()
}

func (c *control) endTurn(at time.Time) {
	c.inTurn = false
	d := at.Sub(c.turnStart)
	frames := int(c.s.stats.turnFrames.Load())
	c.s.deps.Recorder.Record(Record{Kind: RecordTurnEnded, At: at, Turn: c.turn, Duration: d, FramesAdmitted: frames})
	c.s.send(Message{Type: MsgTurnEnded, Turn: c.turn, DurationMs: d.Milliseconds(), FramesAdmitted: frames})
	if frames > 0 {
		c.pending = true
	}
}

// maybeRespond asks the model for a response to the last turn once the
// assistant is quiet: no response in flight, barrier open, nothing held.
func (c *control) maybeRespond(ctx context.Context) {
	if !c.pending || c.active != nil || c.inTurn {
		return
	}
	snap := c.s.g.Snapshot()
	if snap.Barrier.Closed || snap.Held.Frames > 0 || snap.PendingBatches > 0 {
		return
	}
	c.pending = false
	if err := c.s.deps.Model.CommitTurn(ctx); err != nil {
		c.s.log.Warn("commit turn failed", zap.Error(err))
		c.s.send(Message{Type: MsgModelError, Reason: "commit_failed", Text: err.Error()})
		return
	}
	c.seq++
	r := &response{seq: c.seq}
	rctx, cancel := context.WithTimeout(ctx, c.s.cfg.ReserveTimeout)
	hold, err := c.s.deps.Recorder.ReserveResponse(rctx, r.seq)
	cancel()
	switch {
	case err != nil:
		// The call goes on; the workflow bills the response after the fact
		// when its record arrives.
		c.s.log.Warn("billing hold unavailable; response goes ahead unheld", zap.Int("responseSeq", r.seq), zap.Error(err))
		c.s.send(Message{Type: MsgBillingDegraded, ResponseSeq: r.seq, Reason: reasonOf(err)})
	case !hold.OK:
		c.refused++
		c.s.send(Message{Type: MsgResponseRefused, ResponseSeq: r.seq, Reason: hold.Reason})
		c.s.viewMu.Lock()
		c.s.view.Refused = c.refused
		c.s.viewMu.Unlock()
		return
	default:
		r.billed = true
	}
	if err := c.s.deps.Model.CreateResponse(ctx, fmt.Sprintf("r%d", r.seq)); err != nil {
		c.s.log.Warn("create response failed", zap.Error(err))
		c.s.send(Message{Type: MsgModelError, Reason: "create_failed", Text: err.Error()})
		// The hold is released by the workflow when it learns the
		// response failed.
		c.s.deps.Recorder.Record(Record{Kind: RecordResponseDone, At: time.Now(), ResponseSeq: r.seq, Status: "failed", Billed: r.billed, Reason: "create_failed"})
		return
	}
	c.active = r
}

func reasonOf(err error) string {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrBillingUnavailable) {
		return "billing_unavailable"
	}
	return "billing_error"
}

func (c *control) onModel(ev realtimemodel.ServerEvent) {
	switch v := ev.Value.(type) {
	case *realtimemodel.ResponseCreated:
		if c.active == nil || c.active.id != "" {
			return // not ours (or a duplicate): nothing to bill
		}
		c.active.id = v.Response.ID
		c.responses++
		c.s.deps.Recorder.Record(Record{Kind: RecordResponseStarted, At: time.Now(), ResponseSeq: c.active.seq, ResponseID: v.Response.ID, Billed: c.active.billed})
		c.s.send(Message{Type: MsgResponseStarted, ResponseSeq: c.active.seq, ResponseID: v.Response.ID})
		c.s.viewMu.Lock()
		c.s.view.Responses = c.responses
		c.s.viewMu.Unlock()
	case *realtimemodel.ResponseOutputAudioTranscriptDelta:
		if v.Delta != "" {
			c.s.send(Message{Type: MsgTranscript, ResponseID: v.ResponseID, Text: v.Delta})
		}
	case *realtimemodel.ResponseDone:
		r := c.active
		if r == nil || (r.id != "" && v.Response.ID != r.id) {
			return
		}
		status := v.Response.Status
		if status == "" {
			status = realtimemodel.StatusCompleted
		}
		var u Usage
		if v.Response.Usage != nil {
			u = Usage{InputTokens: int(v.Response.Usage.InputTokens), OutputTokens: int(v.Response.Usage.OutputTokens), TotalTokens: int(v.Response.Usage.TotalTokens)}
		}
		c.s.deps.Recorder.Record(Record{Kind: RecordResponseDone, At: time.Now(), ResponseSeq: r.seq, ResponseID: r.id, Status: status, Usage: u, Billed: r.billed})
		c.s.send(Message{Type: MsgResponseDone, ResponseSeq: r.seq, ResponseID: r.id, Status: status, Usage: &u})
		c.active = nil
		if status == realtimemodel.StatusCompleted {
			c.reportCharge(r.seq)
		}
	case *realtimemodel.ErrorEvent:
		if v.Error.Code == realtimemodel.CodeCancelNotActive {
			return // a barge-in just after the reply ended: harmless
		}
		c.s.send(Message{Type: MsgModelError, Reason: v.Error.Code, Text: v.Error.Message})
	}
}

// reportCharge tells the caller what a completed response cost, once the
// workflow has captured it: a goroutine owned by the session (Run waits for
// it) polls the session's summary for a bounded time, off the audio path.
func (c *control) reportCharge(seq int) {
	rep, ok := c.s.deps.Recorder.(BillingReporter)
	if !ok {
		return
	}
	ctx := c.ctx
	c.s.reports.Add(1)
	go func() {
		defer c.s.reports.Done()
		deadline := time.NewTimer(chargeReportWithin)
		defer deadline.Stop()
		for {
			ch, err := rep.Billed(ctx, seq)
			if err == nil && ch.Settled {
				amount := ch.Amount
				c.s.send(Message{Type: MsgResponseBilled, ResponseSeq: seq, Charged: &amount, Balance: ch.Available})
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-deadline.C:
				return
			case <-time.After(chargePollEvery):
			}
		}
	}()
}

// How long, and how often, the caller's charge report waits for the
// workflow's capture.
const (
	chargeReportWithin = 15 * time.Second
	chargePollEvery    = 300 * time.Millisecond
)

// interrupt handles a barge-in: the assistant stops at once and the model
// is told to cancel the response.
func (c *control) interrupt(ctx context.Context) {
	cut := c.s.play.clear()
	r := c.active
	if r == nil && cut == 0 {
		return
	}
	c.interrupts++
	c.s.viewMu.Lock()
	c.s.view.Interrupted = c.interrupts
	c.s.viewMu.Unlock()
	rec := Record{Kind: RecordInterruption, At: time.Now()}
	if r != nil && !r.cancelled {
		r.cancelled = true
		id := r.id
		c.s.muted.Store(&id)
		rec.ResponseSeq, rec.ResponseID = r.seq, r.id
		if err := c.s.deps.Model.CancelResponse(ctx); err != nil {
			c.s.log.Warn("cancel response failed", zap.Error(err))
		}
	}
	c.s.deps.Recorder.Record(rec)
	c.s.send(Message{Type: MsgInterruption, ResponseSeq: rec.ResponseSeq, ResponseID: rec.ResponseID})
}

func (c *control) sendFigures() {
	snap := c.s.g.Snapshot()
	f := c.s.figures(snap)
	if f.BarrierClosed != c.barrierClosed {
		c.barrierClosed = f.BarrierClosed
		closed := f.BarrierClosed
		c.s.send(Message{Type: MsgGateBarrier, Closed: &closed})
	}
	c.s.send(Message{Type: MsgGateFigures, Figures: &f})
}

// finish ends the call: a response still in flight is cancelled and
// recorded as such (so its hold is released), and the workflow and the
// caller learn why the call ended.
func (c *control) finish(cause error) {
	reason := "closed"
	if cause != nil && !errors.Is(cause, context.Canceled) {
		reason = cause.Error()
	}
	if r := c.active; r != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_ = c.s.deps.Model.CancelResponse(ctx)
		cancel()
		c.s.deps.Recorder.Record(Record{Kind: RecordResponseDone, At: time.Now(), ResponseSeq: r.seq, ResponseID: r.id, Status: "cancelled", Billed: r.billed, Reason: "session_ended"})
		c.active = nil
	}
	if c.inTurn {
		c.endTurn(time.Now())
	}
	f := c.s.figures(c.s.g.Snapshot())
	c.s.deps.Recorder.Record(Record{Kind: RecordSnapshot, At: time.Now(), Snapshot: &f})
	c.s.deps.Recorder.Record(Record{Kind: RecordClosed, At: time.Now(), Reason: reason})
	c.s.send(Message{Type: MsgSessionEnded, Reason: reason})
}
