package voicesignal

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.uber.org/zap"

	"github.com/inferflow/inferflow/workflows"
)

// fakeSweeper answers listings page by page and records the signals.
type fakeSweeper struct {
	pages    [][]string // workflow ids per page
	listErr  []error    // per page; nil: the page
	gone     string     // a workflow that closed meanwhile
	queries  []string
	signals  []string
	payloads []*workflows.SessionClosed
}

func (f *fakeSweeper) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	f.queries = append(f.queries, req.Query)
	page := len(req.NextPageToken)
	if page < len(f.listErr) && f.listErr[page] != nil {
		return nil, f.listErr[page]
	}
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	if page < len(f.pages) {
		for _, id := range f.pages[page] {
			resp.Executions = append(resp.Executions, &workflowpb.WorkflowExecutionInfo{Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: "run-" + id}})
		}
	}
	if page+1 < len(f.pages) {
		resp.NextPageToken = make([]byte, page+1)
	}
	return resp, nil
}

func (f *fakeSweeper) SignalWorkflow(_ context.Context, id, _, name string, arg any) error {
	if id == f.gone {
		return serviceerror.NewNotFound("workflow execution already completed")
	}
	f.signals = append(f.signals, name+" "+id)
	f.payloads = append(f.payloads, arg.(*workflows.SessionClosed))
	return nil
}

func TestCloseOrphans(t *testing.T) {
	for _, tt := range []struct {
		name    string
		f       fakeSweeper
		closed  []string
		indexed bool
		failed  bool  // an error is returned
		err     error // and it is this one (errors.Is)
	}{
		{name: "two pages, one closed meanwhile", f: fakeSweeper{pages: [][]string{{"voice-a", "voice-b"}, {"voice-c"}}, gone: "voice-b"},
			closed: []string{"voice-a", "voice-c"}, indexed: true},
		{name: "none left open", f: fakeSweeper{}, indexed: true},
		{name: "no VoiceOwner attribute", f: fakeSweeper{listErr: []error{serviceerror.NewInvalidArgument("invalid query: VoiceOwner is not defined")}},
			failed: true, err: ErrNotIndexed},
		{name: "Temporal unreachable: unknown, not indexed", f: fakeSweeper{listErr: []error{serviceerror.NewUnavailable("down")}}, failed: true},
		{name: "fails after a page: indexed, what was found closed", f: fakeSweeper{pages: [][]string{{"voice-a"}, {"voice-b"}},
			listErr: []error{nil, serviceerror.NewUnavailable("down")}}, closed: []string{"voice-a"}, indexed: true, failed: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, indexed, err := CloseOrphans(context.Background(), &tt.f, "default", "rt-1", zap.NewNop())
			var want []string
			for _, id := range tt.closed {
				want = append(want, string(workflows.SignalSessionClosed)+" "+id)
			}
			if n != len(tt.closed) || !slices.Equal(tt.f.signals, want) || indexed != tt.indexed {
				t.Errorf("closed %d %v, indexed %v: want %v, indexed %v", n, tt.f.signals, indexed, want, tt.indexed)
			}
			if (err != nil) != tt.failed || tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("err = %v, want %v", err, tt.err)
			}
			for _, p := range tt.f.payloads {
				if !p.Orphaned || p.Reason != OrphanReason || p.Seq != 0 {
					t.Errorf("signal %+v: want an unordered orphaned session-closed", p)
				}
			}
			for _, q := range tt.f.queries {
				if !strings.Contains(q, "VoiceOwner = 'rt-1'") || !strings.Contains(q, "ExecutionStatus = 'Running'") || !strings.Contains(q, "WorkflowType = 'VoiceSession'") {
					t.Errorf("query %q", q)
				}
			}
		})
	}
	// An owner that cannot be put in a query is refused, not interpolated.
	if _, _, err := CloseOrphans(context.Background(), &fakeSweeper{}, "default", "rt' OR 1=1", zap.NewNop()); err == nil {
		t.Error("an owner with a quote was queried")
	}
}

// The VoiceOwner attribute is set at start only for a namespace known to
// have it.
func TestStartOptionsOwnerAttribute(t *testing.T) {
	for _, indexed := range []bool{false, true} {
		s := &Signaller{cfg: Config{OwnerIndexed: indexed, Session: workflows.VoiceSessionInput{SessionID: "s1", UserID: "u1", Owner: "rt-1"}}}
		owner, ok := s.startOptions().TypedSearchAttributes.GetKeyword(workflows.VoiceOwnerKey)
		if ok != indexed || (ok && owner != "rt-1") {
			t.Errorf("indexed %v: VoiceOwner %q, %v", indexed, owner, ok)
		}
	}
}
