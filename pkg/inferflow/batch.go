package inferflow

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
)

// CatalogItem is one line of a catalog file (`starter batch --items`): an
// item id, its image file (relative to the images folder) and optional
// evaluation options.
type CatalogItem struct {
	ItemID  string                 `json:"itemId"`
	Image   string                 `json:"image"`
	Options *wire.ConsensusOptions `json:"options,omitempty"`
}

// MediaTypeJSONL labels the items file in the blob store.
const MediaTypeJSONL = "application/x-ndjson"

// StoreCatalog reads a catalog (one CatalogItem per line), stores each image
// in the blob store (claim check) and then the items file the batch reads,
// and returns its reference and the number of items. Lines are bounded by
// wire.MaxBatchLineBytes and the catalog by wire.MaxBatchItems.
func (c *Client) StoreCatalog(ctx context.Context, catalog io.Reader, imagesDir string) (wire.BlobRef, int, error) {
	if c.Blobs == nil {
		return wire.BlobRef{}, 0, errors.New("store catalog: the client has no blob store")
	}
	sc := bufio.NewScanner(catalog)
	sc.Buffer(make([]byte, 64<<10), wire.MaxBatchLineBytes)
	var out bytes.Buffer
	n, lineNo := 0, 0
	for sc.Scan() {
		lineNo++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if n++; n > wire.MaxBatchItems {
			return wire.BlobRef{}, 0, &ValidationError{Err: fmt.Errorf("catalog: over %d items", wire.MaxBatchItems)}
		}
		var it CatalogItem
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&it); err != nil {
			return wire.BlobRef{}, 0, &ValidationError{Err: fmt.Errorf("catalog line %d: %w", lineNo, err)}
		}
		if err := wire.ValidateID("itemId", it.ItemID); err != nil {
			return wire.BlobRef{}, 0, &ValidationError{Err: fmt.Errorf("catalog line %d: %w", lineNo, err)}
		}
		if it.Image == "" {
			return wire.BlobRef{}, 0, &ValidationError{Err: fmt.Errorf("catalog line %d: image is required", lineNo)}
		}
		path := it.Image
		if !filepath.IsAbs(path) {
			path = filepath.Join(imagesDir, path)
		}
		// The size first, so an over-size file is never read into memory.
		if st, err := os.Stat(path); err == nil {
			if err := c.Limits.CheckImageSize(fmt.Sprintf("catalog line %d: image %s", lineNo, it.Image), st.Size()); err != nil {
				return wire.BlobRef{}, 0, err
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return wire.BlobRef{}, 0, &ValidationError{Err: fmt.Errorf("catalog line %d: %w", lineNo, err)}
		}
		mt, err := wire.DetectMediaType(data)
		if err != nil {
			return wire.BlobRef{}, 0, &ValidationError{Err: fmt.Errorf("catalog line %d: %s: %w", lineNo, it.Image, err)}
		}
		ref, err := c.Blobs.Put(ctx, data, mt)
		if err != nil {
			return wire.BlobRef{}, 0, fmt.Errorf("store image of %s: %w", it.ItemID, err)
		}
		enc, err := json.Marshal(wire.ConsensusInput{ItemID: it.ItemID, Image: wire.Image{MediaType: mt, Ref: &ref}, Options: it.Options})
		if err != nil {
			return wire.BlobRef{}, 0, err
		}
		out.Write(append(enc, '\n'))
	}
	if err := sc.Err(); err != nil {
		return wire.BlobRef{}, 0, &ValidationError{Err: fmt.Errorf("catalog line %d: %w", lineNo+1, err)}
	}
	if n == 0 {
		return wire.BlobRef{}, 0, &ValidationError{Err: errors.New("catalog: no items")}
	}
	if out.Len() > wire.MaxBatchItemsBytes {
		return wire.BlobRef{}, 0, &ValidationError{Err: fmt.Errorf("catalog: the items file is %d bytes, over the %d byte limit", out.Len(), wire.MaxBatchItemsBytes)}
	}
	ref, err := c.Blobs.Put(ctx, out.Bytes(), MediaTypeJSONL)
	if err != nil {
		return wire.BlobRef{}, 0, fmt.Errorf("store items file: %w", err)
	}
	return ref, n, nil
}

// BatchRequest starts a batch over an items file (StoreCatalog) or a short
// inline list.
type BatchRequest struct {
	// BatchID names the batch (workflow id batch-<BatchID>); "" derives it
	// from the items file, so the same catalog attaches to the same batch.
	BatchID     string
	ItemsRef    *wire.BlobRef
	Items       []wire.ConsensusInput
	Concurrency int
	// RetryFailed re-runs the items whose evaluation failed retryably.
	RetryFailed bool
	// ItemsPerRun: children per run before the batch continues as new; 0
	// takes the default.
	ItemsPerRun int
}

// StartBatch starts the batch, or attaches to it while it runs. A batch
// that completed is attached to (its result is read), unless RetryFailed
// asks for a new run; one that was cancelled, failed or terminated runs
// again, and evaluates only what was not evaluated before.
func (c *Client) StartBatch(ctx context.Context, req BatchRequest) (*Run, error) {
	if req.BatchID == "" && req.ItemsRef != nil {
		req.BatchID = req.ItemsRef.Key[:16]
	}
	in := wire.BatchInput{BatchID: req.BatchID, ItemsRef: req.ItemsRef, Items: req.Items, Concurrency: req.Concurrency, RetryFailed: req.RetryFailed, ItemsPerRun: req.ItemsPerRun}
	if err := in.Validate(); err != nil {
		return nil, &ValidationError{Err: err}
	}
	opts := client.StartWorkflowOptions{
		ID:                       wire.BatchWorkflowID(req.BatchID),
		TaskQueue:                c.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.BatchIDKey.ValueSet(req.BatchID),
			workflows.BatchStateKey.ValueSet(workflows.BatchRunning)),
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}
	if req.RetryFailed {
		opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	}
	run, err := c.Temporal.ExecuteWorkflow(ctx, opts, wire.WorkflowConsensusBatch, in)
	if err == nil {
		return &Run{WorkflowRun: run}, nil
	}
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return &Run{WorkflowRun: c.Temporal.GetWorkflow(ctx, opts.ID, already.RunId), Attached: true}, nil
	}
	return nil, fmt.Errorf("start %s: %w", opts.ID, err)
}

// AttachBatch follows the batch's latest run.
func (c *Client) AttachBatch(ctx context.Context, batchID string) *Run {
	return &Run{WorkflowRun: c.Temporal.GetWorkflow(ctx, wire.BatchWorkflowID(batchID), ""), Attached: true}
}

// BatchProgress asks the batch's current run how far it is.
func (c *Client) BatchProgress(ctx context.Context, run *Run) (wire.BatchProgress, error) {
	var p wire.BatchProgress
	// The latest run: the batch continues as new.
	v, err := c.Temporal.QueryWorkflow(ctx, run.GetID(), "", wire.QueryProgress)
	if err != nil {
		return p, err
	}
	return p, v.Get(&p)
}

// ErrBatchCancelled: the batch was cancelled; the result returned with it
// holds what settled before.
var ErrBatchCancelled = errors.New("batch cancelled")

// BatchResult waits for the batch (following continue-as-new) and returns
// its result. A cancelled batch returns what it wrote with
// ErrBatchCancelled.
func (c *Client) BatchResult(ctx context.Context, run *Run) (wire.BatchResult, error) {
	var res wire.BatchResult
	err := c.Temporal.GetWorkflow(ctx, run.GetID(), "").Get(ctx, &res)
	var cancelled *temporal.CanceledError
	if errors.As(err, &cancelled) {
		if cancelled.HasDetails() {
			_ = cancelled.Details(&res) // without them, nothing was written
		}
		return res, ErrBatchCancelled
	}
	return res, err
}
