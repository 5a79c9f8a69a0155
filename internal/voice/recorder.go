package voice

import (
	"context"
	"errors"
	"fmt"

	"github.com/inferflow/inferflow/internal/voicesignal"
	"github.com/inferflow/inferflow/workflows"
)

// Signals records a session in its VoiceSession workflow through a
// voicesignal.Signaller: records become signals (queued, never blocking),
// holds become the reserve-response update.
type Signals struct {
	S *voicesignal.Signaller
}

func turnID(n int) string     { return fmt.Sprintf("t%d", n) }
func responseID(n int) string { return fmt.Sprintf("r%d", n) }

// Record implements Recorder.
func (r Signals) Record(rec Record) {
	var sig workflows.VoiceSignal
	switch rec.Kind {
	case RecordTurnStarted:
		sig = &workflows.TurnStarted{TurnID: turnID(rec.Turn)}
	case RecordTurnEnded:
		sig = &workflows.TurnEnded{TurnID: turnID(rec.Turn), DurationMs: rec.Duration.Milliseconds(), FramesAdmitted: int64(rec.FramesAdmitted)}
	case RecordResponseStarted:
		sig = &workflows.ResponseStarted{ResponseID: responseID(rec.ResponseSeq)}
	case RecordResponseDone:
		sig = &workflows.ResponseDone{ResponseID: responseID(rec.ResponseSeq), Status: workflows.ResponseStatus(rec.Status),
			Usage:  workflows.VoiceUsage{InputTokens: rec.Usage.InputTokens, OutputTokens: rec.Usage.OutputTokens, TotalTokens: rec.Usage.TotalTokens},
			Reason: rec.Reason}
	case RecordInterruption:
		in := &workflows.Interruption{}
		if rec.ResponseSeq > 0 {
			in.ResponseID = responseID(rec.ResponseSeq)
		}
		sig = in
	case RecordSnapshot:
		f := rec.Snapshot
		if f == nil {
			return
		}
		barrier := "open"
		if f.BarrierClosed {
			barrier = "closed"
		}
		sig = &workflows.GateSnapshot{TurnState: f.TurnState, BarrierState: barrier, FramesTotal: f.FramesTotal,
			FramesSpeech: f.SpeechFrames, FramesAdmitted: f.Admitted, FramesDropped: f.Dropped, Interruptions: f.Interruptions,
			UplinkErrors: f.ModelSendFails}
	case RecordClosed:
		sig = &workflows.SessionClosed{Reason: rec.Reason}
	default:
		return
	}
	sig.Meta().At = rec.At
	_ = r.S.Send(sig) // a full buffer drops (counted by the Signaller); after close there is nothing to tell
}

// Billed implements BillingReporter from the session's summary query: the
// timeline's "captured" entries of the response.
func (r Signals) Billed(ctx context.Context, seq int) (Charge, error) {
	sum, err := r.S.Summary(ctx)
	if err != nil {
		return Charge{}, err
	}
	var c Charge
	for _, e := range sum.Timeline {
		if e.Kind == "captured" && e.ResponseID == responseID(seq) {
			c.Settled, c.Amount = true, c.Amount+e.Amount
		}
	}
	if c.Settled {
		c.Available = sum.Available
	}
	return c, nil
}

// ReserveResponse implements Recorder.
func (r Signals) ReserveResponse(ctx context.Context, seq int) (Hold, error) {
	res, err := r.S.ReserveResponse(ctx, workflows.ReserveResponseRequest{ResponseID: responseID(seq)})
	switch {
	case errors.Is(err, voicesignal.ErrUnavailable):
		return Hold{}, fmt.Errorf("%w: %v", ErrBillingUnavailable, err)
	case err != nil:
		return Hold{}, err
	case res.Deferred:
		return Hold{}, fmt.Errorf("%w: the session deferred billing", ErrBillingUnavailable)
	}
	return Hold{OK: res.OK, Reason: res.Reason, Amount: res.HeldAmount}, nil
}
