package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/wire"
)

// maxResultsBytes bounds the results file the starter reads back.
const maxResultsBytes = 256 << 20

func batchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn                connFlags
		items, images, out  string
		id                  string
		concurrency         int
		retryFailed, noWait bool
	)
	s := envflag.New("starter batch")
	s.SetOutput(stderr)
	conn.register(s)
	conn.registerImageLimit(s)
	s.StringVar(&items, "items", "", "catalog: JSONL, one {\"itemId\", \"image\", \"options\"} per line (required)")
	s.StringVar(&images, "images", "", "folder the catalog's image paths are relative to (default: the catalog's folder)")
	s.IntVar(&concurrency, "concurrency", 10, fmt.Sprintf("evaluations in flight at most, 1..%d", wire.MaxBatchConcurrency))
	s.StringVar(&out, "out", "", "write the results here (JSONL, one line per item); default: only the summary")
	s.StringVar(&id, "id", "", "batch id (default: derived from the catalog, so the same catalog attaches to the same batch)")
	s.BoolVar(&retryFailed, "retry-failed", false, "re-run the items whose evaluation failed retryably")
	s.BoolVar(&noWait, "no-wait", false, "start (or attach) and return without waiting")
	if err := s.Parse(args); err != nil {
		return usageOrHelp(err)
	}
	if items == "" {
		return usageErr("batch: --items is required")
	}
	if concurrency < 1 || concurrency > wire.MaxBatchConcurrency {
		return usageErr("batch: --concurrency %d: must be in 1..%d", concurrency, wire.MaxBatchConcurrency)
	}
	if images == "" {
		images = filepath.Dir(items)
	}
	f, err := os.Open(items)
	if err != nil {
		return usageErr("batch: --items: %v", err)
	}
	defer f.Close()

	c, closeFn, err := conn.client(ctx)
	if err != nil {
		return err
	}
	defer closeFn()
	c.Blobs = blob.Dir{Root: conn.blobDir, MaxSize: wire.MaxBatchItemsBytes}
	ref, n, err := c.StoreCatalog(ctx, f, images)
	if err != nil {
		return rejected(err)
	}
	run, err := c.StartBatch(ctx, inferflow.BatchRequest{BatchID: id, ItemsRef: &ref, Concurrency: concurrency, RetryFailed: retryFailed})
	if err != nil {
		return rejected(err)
	}
	verb := "started"
	if run.Attached {
		verb = "attached to"
	}
	fmt.Fprintf(stderr, "%s batch %s: %d items, %d in flight at most\n", verb, run.GetID(), n, concurrency)
	if noWait {
		return printJSON(stdout, map[string]string{"workflowId": run.GetID(), "runId": run.GetRunID()})
	}

	done := make(chan struct{})
	bar := make(chan struct{})
	go func() { // owned by this command: ends when done closes
		defer close(bar)
		showBatchProgress(ctx, done, stderr, func(ctx context.Context) (wire.BatchProgress, error) { return c.BatchProgress(ctx, run) })
	}()
	res, err := c.BatchResult(ctx, run)
	close(done)
	<-bar
	if ctx.Err() != nil {
		again := append([]string{"starter", "batch"}, args...)
		fmt.Fprintf(stderr, "\ninterrupted: batch %s keeps running. Re-attach with:\n  %s\n", run.GetID(), strings.Join(again, " "))
		return &exitError{code: exitFailure, err: errors.New("interrupted; the batch is still running")}
	}
	cancelled := errors.Is(err, inferflow.ErrBatchCancelled)
	if err != nil && !cancelled {
		if f, ok := inferflow.AsFailure(err); ok {
			return &exitError{code: exitFailure, err: fmt.Errorf("batch failed: %s: %s", f.Code, f.Message)}
		}
		return err
	}
	if out != "" && res.Results != nil {
		if err := writeResults(ctx, blob.Dir{Root: conn.blobDir, MaxSize: maxResultsBytes}, *res.Results, out); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "results: %s (%d lines)\n", out, res.Counts.Done())
	}
	if err := printJSON(stdout, res); err != nil {
		return err
	}
	if cancelled {
		return &exitError{code: exitFailure, err: errors.New("the batch was cancelled; the results hold the items that settled before")}
	}
	return nil
}

// writeResults copies the results file from the blob store to path,
// atomically.
func writeResults(ctx context.Context, blobs blob.Dir, ref wire.BlobRef, path string) error {
	data, err := blobs.Get(ctx, ref)
	if err != nil {
		return fmt.Errorf("read results: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// showBatchProgress redraws a progress bar until done closes.
func showBatchProgress(ctx context.Context, done <-chan struct{}, w io.Writer, query func(context.Context) (wire.BatchProgress, error)) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	last := ""
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		p, err := query(qctx)
		cancel()
		if err == nil {
			if line := progressLine(p); line != last {
				fmt.Fprint(w, "\r"+line)
				last = line
			}
		}
		select {
		case <-done:
			if last != "" {
				fmt.Fprintln(w)
			}
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// progressLine renders a batch's progress as one line.
func progressLine(p wire.BatchProgress) string {
	const width = 30
	done := p.Done()
	filled := 0
	if p.Total > 0 {
		filled = min(width, done*width/p.Total)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%s%s] %d/%d  ok %d  degraded %d  failed %d", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		done, p.Total, p.Succeeded, p.Degraded, p.Failed)
	if len(p.FailedByCode) > 0 {
		codes := make([]string, 0, len(p.FailedByCode))
		for c, n := range p.FailedByCode {
			codes = append(codes, fmt.Sprintf("%s %d", c, n))
		}
		slices.Sort(codes)
		fmt.Fprintf(&b, " (%s)", strings.Join(codes, ", "))
	}
	fmt.Fprintf(&b, "  running %d  %.1f items/s", p.Running, p.ItemsPerSecond)
	if p.ItemsPerSecond > 0 {
		fmt.Fprintf(&b, "  ETA %s", (time.Duration(p.EstimatedSecondsLeft) * time.Second).String())
	}
	return b.String()
}
