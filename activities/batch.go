package activities

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/wire"
)

// MediaTypeJSONL labels the items and results files in the blob store.
const MediaTypeJSONL = "application/x-ndjson"

// MaxBatchResultsBytes bounds a batch's results file (about 1 KiB a line).
const MaxBatchResultsBytes = 256 << 20

// Batch holds the dependencies of the consensus batch activities: the blob
// store for the items and results files, and a Temporal client to read the
// outcome of an item evaluated before.
type Batch struct {
	Blobs    blob.Dir
	Temporal client.Client
}

func (b *Batch) items() blob.Dir {
	return blob.Dir{Root: b.Blobs.Root, MaxSize: wire.MaxBatchItemsBytes}
}
func (b *Batch) results() blob.Dir {
	return blob.Dir{Root: b.Blobs.Root, MaxSize: MaxBatchResultsBytes}
}

// CountBatchItems verifies the items file (size, hash, bounds) and counts
// its items: the non-blank lines.
func (b *Batch) CountBatchItems(ctx context.Context, ref wire.BlobRef) (n int, err error) {
	defer internalOnPanic(ctx, &err)
	data, err := b.items().Get(ctx, ref)
	if err != nil {
		return 0, imageError(ctx, err, wire.CodeValidationFailed) // a missing or mismatched file is the caller's
	}
	n, lineNo := 0, 0
	for line := range bytes.Lines(data) {
		lineNo++
		if len(line) > wire.MaxBatchLineBytes {
			return 0, invalidItems("line %d is %d bytes, over the %d byte limit", lineNo, len(line), wire.MaxBatchLineBytes)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			n++
		}
	}
	switch {
	case n == 0:
		return 0, invalidItems("the items file has no items")
	case n > wire.MaxBatchItems:
		return 0, invalidItems("%d items, over the %d item limit", n, wire.MaxBatchItems)
	}
	return n, nil
}

// ReadBatchItems reads up to in.Max items from byte in.Offset. A line that
// is not an item becomes a rejected (failed) line, not a failed batch.
func (b *Batch) ReadBatchItems(ctx context.Context, in wire.ReadBatchItemsInput) (out wire.ReadBatchItemsOutput, err error) {
	defer internalOnPanic(ctx, &err)
	out = wire.ReadBatchItemsOutput{Next: in.Offset}
	if in.Offset < 0 || in.Offset > in.Ref.Size {
		return out, invalidItems("offset %d outside the %d byte file", in.Offset, in.Ref.Size)
	}
	limit := min(max(in.Max, 1), wire.BatchPageItems)
	sec, closer, err := b.items().Section(ctx, in.Ref)
	if err != nil {
		return out, imageError(ctx, err, wire.CodeValidationFailed)
	}
	defer closer.Close()
	r := bufio.NewReaderSize(io.NewSectionReader(sec, in.Offset, in.Ref.Size-in.Offset), 64<<10)
	for len(out.Items)+len(out.Rejected) < limit {
		line, err := readLine(r)
		var appErr *temporal.ApplicationError
		switch {
		case errors.As(err, &appErr):
			return out, err // typed already (a line over the limit)
		case err != nil && !errors.Is(err, io.EOF):
			return out, codeError(ctx, wire.CodeStorageError, "read items file: "+err.Error(), 0)
		}
		if len(line) == 0 {
			break // end of file
		}
		at := out.Next
		out.Next += int64(len(line))
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) == 0 {
			continue
		}
		var item wire.ConsensusInput
		if uerr := json.Unmarshal(trimmed, &item); uerr != nil {
			id := item.ItemID
			if id == "" {
				id = fmt.Sprintf("@%d", at)
			}
			out.Rejected = append(out.Rejected, wire.FailedLine(id, wire.CodeValidationFailed,
				fmt.Sprintf("Invalid input: items file at byte %d: %v", at, uerr), wire.NoRetry, nil))
			continue
		}
		// A field of the wrong JSON type would otherwise reach the
		// evaluation at its default (the record of it is not encoded).
		if bad := item.Undecodable(); len(bad) > 0 {
			id := item.ItemID
			if wire.IDProblem(id) != "" {
				id = fmt.Sprintf("@%d", at)
			}
			out.Rejected = append(out.Rejected, wire.FailedLine(id, wire.CodeValidationFailed,
				fmt.Sprintf("Invalid input: items file at byte %d: %v", at, bad), wire.NoRetry,
				&wire.ConsensusFailure{ItemID: id, RetryStrategy: wire.NoRetry, InvalidFields: bad}))
			continue
		}
		out.Items = append(out.Items, item)
	}
	return out, nil
}

// readLine reads one line with its newline, up to MaxBatchLineBytes (which
// CountBatchItems checked), or what is left at the end of the file.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > wire.MaxBatchLineBytes+1 {
			return nil, invalidItems("a line is over the %d byte limit", wire.MaxBatchLineBytes)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, err
	}
}

// AwaitEvaluation reads the outcome of the item's existing evaluation,
// waiting while it runs.
func (b *Batch) AwaitEvaluation(ctx context.Context, itemID string) (_ wire.EvaluationOutcome, err error) {
	defer internalOnPanic(ctx, &err)
	if b.Temporal == nil {
		return wire.EvaluationOutcome{}, temporal.NewNonRetryableApplicationError("await evaluation: the worker has no Temporal client", string(wire.CodeInternalError), nil)
	}
	stop := heartbeatWhile(ctx)
	defer stop()
	var r wire.ConsensusResult
	err = b.Temporal.GetWorkflow(ctx, wire.ConsensusWorkflowID(itemID), "").Get(ctx, &r)
	var (
		wfErr    *temporal.WorkflowExecutionError
		appErr   *temporal.ApplicationError
		notFound *serviceerror.NotFound
	)
	switch {
	case err == nil:
		return wire.EvaluationOutcome{Status: wire.EvaluationCompleted, Line: wire.ResultLine(r)}, nil
	case errors.As(err, &wfErr) && errors.As(err, &appErr) && appErr.Type() != "":
		var f wire.ConsensusFailure
		var details *wire.ConsensusFailure
		strategy := wire.NoRetry
		if appErr.HasDetails() && appErr.Details(&f) == nil {
			details, strategy = &f, f.RetryStrategy
		}
		return wire.EvaluationOutcome{Status: wire.EvaluationFailed,
			Line: wire.FailedLine(itemID, wire.Code(appErr.Type()), appErr.Message(), strategy, details)}, nil
	case errors.As(err, &wfErr), errors.As(err, &notFound):
		// Cancelled, terminated, timed out, or gone: not evaluated.
		return wire.EvaluationOutcome{Status: wire.EvaluationNotEvaluated,
			Line: wire.FailedLine(itemID, wire.CodeNotEvaluated, "Evaluation ended without a result: "+err.Error(), wire.RetryWithBackoff, nil)}, nil
	}
	if ctx.Err() != nil {
		return wire.EvaluationOutcome{}, ctx.Err()
	}
	return wire.EvaluationOutcome{}, codeError(ctx, wire.CodeInfraUnavailable, fmt.Sprintf("await evaluation of %s: %v", itemID, err), 0)
}

// WriteBatchResults stores lines as one JSONL file and returns its
// reference; the same lines give the same file (content-addressed), so a
// retried write is harmless.
func (b *Batch) WriteBatchResults(ctx context.Context, lines []wire.BatchResultLine) (_ wire.BlobRef, err error) {
	defer internalOnPanic(ctx, &err)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			return wire.BlobRef{}, temporal.NewNonRetryableApplicationError(err.Error(), string(wire.CodeValidationFailed), err)
		}
	}
	ref, err := b.results().Put(ctx, buf.Bytes(), MediaTypeJSONL)
	if err != nil {
		return wire.BlobRef{}, codeError(ctx, wire.CodeStorageError, "write batch results: "+err.Error(), 0)
	}
	return ref, nil
}

// AssembleBatchResults joins the parts, in order, into the results file.
func (b *Batch) AssembleBatchResults(ctx context.Context, parts []wire.BlobRef) (_ wire.BlobRef, err error) {
	defer internalOnPanic(ctx, &err)
	if len(parts) == 1 {
		return parts[0], nil
	}
	var buf bytes.Buffer
	for _, p := range parts {
		data, err := b.results().Get(ctx, p)
		if err != nil {
			return wire.BlobRef{}, codeError(ctx, wire.CodeStorageError, "assemble batch results: "+err.Error(), 0)
		}
		buf.Write(data)
	}
	ref, err := b.results().Put(ctx, buf.Bytes(), MediaTypeJSONL)
	if err != nil {
		return wire.BlobRef{}, codeError(ctx, wire.CodeStorageError, "assemble batch results: "+err.Error(), 0)
	}
	return ref, nil
}

func invalidItems(format string, a ...any) error {
	msg := "items file: " + fmt.Sprintf(format, a...)
	return temporal.NewNonRetryableApplicationError(msg, string(wire.CodeValidationFailed), nil)
}
