package inferflow

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/wire"
)

var pngHeader = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}

// started records what StartConsensus asked Temporal to start.
type started struct {
	workflow any
	opts     client.StartWorkflowOptions
	input    wire.ConsensusInput
}

func fakeTemporal(t *testing.T, got *started) *mocks.Client {
	c := &mocks.Client{}
	run := &mocks.WorkflowRun{}
	run.On("GetID").Return("id").Maybe()
	c.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(run, nil).Run(func(args mock.Arguments) {
		got.opts, got.workflow, got.input = args.Get(1).(client.StartWorkflowOptions), args.Get(2), args.Get(3).(wire.ConsensusInput)
	}).Maybe()
	t.Cleanup(func() { c.AssertExpectations(t) })
	return c
}

func TestStartConsensus(t *testing.T) {
	small := append(append([]byte{}, pngHeader...), 1, 2, 3)
	big := append(append([]byte{}, pngHeader...), make([]byte, InlineImageLimit)...)
	tests := []struct {
		name      string
		req       ConsensusRequest
		blobs     bool
		invalid   bool // a *ValidationError, nothing started
		wantErr   bool
		wantRef   bool
		wantStart bool
	}{
		{name: "small image travels inline", req: ConsensusRequest{ItemID: "i1", Image: small}, wantStart: true},
		{name: "large image travels by reference", req: ConsensusRequest{ItemID: "i2", Image: big}, blobs: true, wantStart: true, wantRef: true},
		{name: "large image without a store", req: ConsensusRequest{ItemID: "i3", Image: big}, wantErr: true},
		{name: "blank item id", req: ConsensusRequest{ItemID: " ", Image: small}, invalid: true},
		{name: "not an image", req: ConsensusRequest{ItemID: "i4", Image: []byte("hello")}, invalid: true},
		{name: "declared type differs", req: ConsensusRequest{ItemID: "i5", Image: small, MediaType: wire.MediaTypeJPEG}, invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got started
			c := &Client{Temporal: fakeTemporal(t, &got), TaskQueue: "q"}
			dir := blob.Dir{Root: t.TempDir()}
			if tt.blobs {
				c.Blobs = dir
			}
			_, err := c.StartConsensus(context.Background(), tt.req)
			var invalid *ValidationError
			if errors.As(err, &invalid) != tt.invalid || (err != nil) != (tt.invalid || tt.wantErr) {
				t.Fatalf("err = %v, want invalid %v, error %v", err, tt.invalid, tt.wantErr)
			}
			if (got.workflow != nil) != tt.wantStart {
				t.Fatalf("started %v, want %v", got.workflow != nil, tt.wantStart)
			}
			if !tt.wantStart {
				return
			}
			if got.workflow != wire.WorkflowConsensusEvaluation || got.opts.ID != wire.ConsensusWorkflowID(tt.req.ItemID) || got.opts.TaskQueue != "q" {
				t.Fatalf("started %v as %s on %s", got.workflow, got.opts.ID, got.opts.TaskQueue)
			}
			// A failed evaluation may be started again; a running or
			// successful one is attached to, never run twice.
			if got.opts.WorkflowIDReusePolicy != enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY ||
				got.opts.WorkflowIDConflictPolicy != enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL || !got.opts.WorkflowExecutionErrorWhenAlreadyStarted {
				t.Fatalf("id policies: reuse %s, conflict %s", got.opts.WorkflowIDReusePolicy, got.opts.WorkflowIDConflictPolicy)
			}
			im := got.input.Image
			if err := im.Check(); err != nil {
				t.Fatalf("the workflow would refuse its image: %v", err)
			}
			if tt.wantRef {
				data, err := dir.Get(context.Background(), *im.Ref)
				if err != nil || !bytes.Equal(data, tt.req.Image) || im.Data != nil {
					t.Fatalf("stored image: %v", err)
				}
			} else if im.Ref != nil || !bytes.Equal(im.Data, tt.req.Image) {
				t.Fatalf("image = %+v", im)
			}
		})
	}
}
