package chaosrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/inferflow/inferflow/internal/chaoscheck"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/internal/providerplan"
	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/wire"
)

// chaosImage is the item image of every evaluation (a small PNG).
var chaosImage = func() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range 8 {
		img.Set(i, i, color.RGBA{R: 200, A: 255})
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}()

var statusOf = map[enumspb.WorkflowExecutionStatus]chaoscheck.Status{
	enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:          chaoscheck.Running,
	enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:        chaoscheck.Completed,
	enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:           chaoscheck.Failed,
	enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:         chaoscheck.Canceled,
	enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:       chaoscheck.Terminated,
	enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:        chaoscheck.TimedOut,
	enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW: chaoscheck.ContinuedAsNew,
}

// describe returns a run's status ("" when Temporal could not say).
func (r *run) describe(ctx context.Context, id, runID string) (chaoscheck.Status, string, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := r.tc.DescribeWorkflow(dctx, id, runID)
	if err != nil {
		return "", "", err
	}
	info := d.RawResponse.GetWorkflowExecutionInfo()
	return statusOf[info.GetStatus()], info.GetExecution().GetRunId(), nil
}

// drain waits until every tracked workflow closed (adding each billed job's
// reconciliation when it has one), or DrainTimeout passes.
func (r *run) drain(ctx context.Context, deadline time.Time) bool {
	for {
		r.mu.Lock()
		var open []*tracked
		for _, id := range r.order {
			if t := r.wfs[id]; !t.closed {
				open = append(open, t)
			}
		}
		r.mu.Unlock()
		if len(open) == 0 {
			return true
		}
		for _, t := range open {
			closed := true
			for runID := range t.runIDs {
				st, _, err := r.describe(ctx, t.id, runID)
				if err != nil || st == chaoscheck.Running {
					closed = false
				}
			}
			if !closed {
				continue
			}
			if t.typ == wire.WorkflowInferenceJob {
				// The saga starts its reconciliation before it closes.
				id := wire.ReconcileWorkflowID(t.jobID)
				if _, runID, err := r.describe(ctx, id, ""); err == nil {
					r.track(id, wire.WorkflowReconcile, runID, func(x *tracked) { x.jobID = t.jobID })
				}
			}
			r.mu.Lock()
			t.closed = true
			r.mu.Unlock()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		_ = sleep(ctx, 2*time.Second)
	}
}

// collect gathers what the checks need: each run's status and result,
// the provider's answers, and the ledger.
func (r *run) collect(ctx context.Context, sum *Summary) (chaoscheck.Data, error) {
	var d chaoscheck.Data
	sum.Started, sum.Completed, sum.Failed, sum.OtherClosed = map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	r.mu.Lock()
	list := make([]*tracked, 0, len(r.order))
	for _, id := range r.order {
		list = append(list, r.wfs[id])
	}
	r.mu.Unlock()
	for _, t := range list {
		for runID := range t.runIDs {
			st, _, err := r.describe(ctx, t.id, runID)
			if err != nil {
				var nf *serviceerror.NotFound
				if !errors.As(err, &nf) {
					return d, fmt.Errorf("chaosrun: describe %s: %w", t.id, err)
				}
			}
			w := chaoscheck.Workflow{ID: t.id, RunID: runID, Type: t.typ, Status: st}
			sum.Started[t.typ]++
			if t.typ == wire.WorkflowReconcile {
				sum.Reconciliations++
			}
			var valuations []wire.VisionResult
			var judge float64
			switch st {
			case chaoscheck.Completed:
				sum.Completed[t.typ]++
				if t.typ == wire.WorkflowConsensusEvaluation {
					var res wire.ConsensusResult
					if err := r.tc.GetWorkflow(ctx, t.id, runID).Get(ctx, &res); err != nil {
						return d, fmt.Errorf("chaosrun: result of %s: %w", t.id, err)
					}
					valuations, judge = res.Valuations, res.Judge.ConsensusValue
				}
			case chaoscheck.Failed:
				err := r.tc.GetWorkflow(ctx, t.id, runID).Get(ctx, nil)
				if f, ok := inferflow.AsFailure(err); ok {
					w.FailureCode = f.Code
				}
				sum.Failed[t.typ+"/"+string(orUnknownCode(w.FailureCode))]++
			case chaoscheck.Running, "":
				sum.StillOpen++
			default:
				sum.OtherClosed[t.typ+"/"+string(st)]++
			}
			d.Workflows = append(d.Workflows, w)
			if t.typ == wire.WorkflowConsensusEvaluation {
				o := chaoscheck.ConsensusOutcome{ItemID: t.itemID, Quorum: t.quorum, Status: st, FailureCode: w.FailureCode, JudgeValue: judge}
				if st == chaoscheck.Completed {
					o.Valuations = map[int]float64{}
					for _, v := range valuations {
						o.Valuations[v.CallIndex] = v.Value
					}
				}
				d.Consensus = append(d.Consensus, o)
			}
		}
	}
	d.Answers = r.answers()
	snap, err := ledger.ReadSnapshot(ctx, r.led)
	if err != nil {
		return d, fmt.Errorf("chaosrun: ledger snapshot: %w", err)
	}
	d.Ledger = snap
	return d, nil
}

func orUnknownCode(c wire.Code) wire.Code {
	if c == "" {
		return "NO_CODE"
	}
	return c
}

// kill is one kill -9 of a worker.
type kill struct {
	worker int
	at     time.Time
}

// workerBaseURL gives worker n a provider root of its own on the fake
// (…/w<n>/v1), so each request names the worker that sent it.
func workerBaseURL(fake *openaitest.Server, n int) string {
	return strings.TrimSuffix(fake.URL(), "/v1") + fmt.Sprintf("/w%d/v1", n)
}

// workerOf is the worker a request came from (-1 if unknown).
func workerOf(path string) int {
	rest, ok := strings.CutPrefix(path, "/w")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(strings.SplitN(rest, "/", 2)[0])
	if err != nil {
		return -1
	}
	return n
}

// answers joins the plan's decisions with what the fake recorded about each
// request (whether its client gave up), by kind, request id and occurrence.
func (r *run) answers() []chaoscheck.ProviderAnswer {
	type key struct {
		kind openaitest.Kind
		id   string
	}
	received := map[key][]openaitest.Request{}
	for _, q := range r.fake.Received() {
		k := key{q.Kind, q.RequestID}
		received[k] = append(received[k], q)
	}
	r.mu.Lock()
	kills, downs := append([]kill(nil), r.kills...), append([][2]time.Time(nil), r.downs...)
	r.mu.Unlock()
	var out []chaoscheck.ProviderAnswer
	for _, dec := range r.plan.Decisions() {
		a, ok := parseRequestID(dec)
		if !ok {
			continue
		}
		a.OK, a.Value, a.Code = dec.Fault == providerplan.None, dec.Value, dec.Code()
		if qs := received[key{dec.Kind, dec.RequestID}]; dec.Occurrence < len(qs) {
			q := qs[dec.Occurrence]
			a.Aborted = q.Aborted
			// The answer may have died with its worker or waited out a
			// server restart: either outcome is then accepted.
			from, to := q.Received, q.Received.Add(dec.Latency+2*time.Second)
			w := workerOf(q.Path)
			for _, k := range kills {
				if (w < 0 || k.worker == w) && !k.at.Before(from) && !k.at.After(to) {
					a.Uncertain = true
				}
			}
			for _, dn := range downs {
				if !dn[1].Before(from) && !dn[0].After(to) {
					a.Uncertain = true
				}
			}
		}
		out = append(out, a)
	}
	return out
}

// parseRequestID reads the item, call and attempt from a consensus
// request id (activities: <item>_v<call>_a<attempt>, <item>_judge_a<attempt>).
func parseRequestID(d providerplan.Decision) (chaoscheck.ProviderAnswer, bool) {
	var a chaoscheck.ProviderAnswer
	rest, attempt, ok := cutLast(d.RequestID, "_a")
	if !ok {
		return a, false
	}
	n, err := strconv.Atoi(attempt)
	if err != nil {
		return a, false
	}
	a.Attempt = n
	switch d.Kind {
	case openaitest.KindJudge:
		item, ok := strings.CutSuffix(rest, "_judge")
		a.ItemID, a.Judge = item, true
		return a, ok
	case openaitest.KindVision:
		item, call, ok := cutLast(rest, "_v")
		if !ok {
			return a, false
		}
		if a.CallIndex, err = strconv.Atoi(call); err != nil {
			return a, false
		}
		a.ItemID = item
		return a, true
	}
	return a, false
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
