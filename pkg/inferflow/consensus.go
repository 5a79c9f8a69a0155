package inferflow

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
)

// InlineImageLimit: images up to this size travel inside the workflow input;
// larger ones go to the blob store and only a reference travels.
const InlineImageLimit = 64 << 10

// ConsensusRequest is one item to evaluate.
type ConsensusRequest struct {
	ItemID string
	Image  []byte
	// MediaType is detected from the bytes when empty.
	MediaType string
	Options   *wire.ConsensusOptions
}

// StartConsensus starts the evaluation of one item, or attaches to the
// existing one: the workflow id is derived from the item id.
func (c *Client) StartConsensus(ctx context.Context, req ConsensusRequest) (*Run, error) {
	if err := wire.ValidateID("itemId", req.ItemID); err != nil {
		return nil, &ValidationError{Err: err}
	}
	if err := c.Limits.CheckImageSize("image", int64(len(req.Image))); err != nil {
		return nil, err
	}
	mt, err := wire.DetectMediaType(req.Image)
	if err != nil {
		return nil, &ValidationError{Err: err}
	}
	if req.MediaType != "" && req.MediaType != mt {
		return nil, &ValidationError{Err: fmt.Errorf("image bytes are %s, not the declared %s", mt, req.MediaType)}
	}
	img := wire.Image{MediaType: mt, Data: req.Image}
	if len(req.Image) > InlineImageLimit {
		if c.Blobs == nil {
			return nil, errors.New("store image: the client has no blob store for images over InlineImageLimit")
		}
		ref, err := c.Blobs.Put(ctx, req.Image, mt)
		if err != nil {
			return nil, fmt.Errorf("store image: %w", err)
		}
		img = wire.Image{MediaType: mt, Ref: &ref}
	}
	return c.startOrAttach(ctx, client.StartWorkflowOptions{
		ID:                    wire.ConsensusWorkflowID(req.ItemID),
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.ItemIDKey.ValueSet(req.ItemID)),
	}, wire.WorkflowConsensusEvaluation, wire.ConsensusInput{ItemID: req.ItemID, Image: img, Options: req.Options})
}

// ConsensusProgress asks a running evaluation which slots are done.
func (c *Client) ConsensusProgress(ctx context.Context, run *Run) (wire.ConsensusProgress, error) {
	var p wire.ConsensusProgress
	v, err := c.Temporal.QueryWorkflow(ctx, run.GetID(), run.GetRunID(), wire.QueryProgress)
	if err != nil {
		return p, err
	}
	return p, v.Get(&p)
}
