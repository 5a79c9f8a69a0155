package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/wire"
)

func consensusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn        connFlags
		item, image string
		quorum      int
		earlyCancel bool
		models      string
		visionMs    int
		judgeMs     int
		wait        bool
	)
	s := envflag.New("starter consensus")
	s.SetOutput(stderr)
	conn.register(s)
	conn.registerImageLimit(s)
	s.StringVar(&item, "item", "", "item id (required); the workflow id is consensus-<item>")
	s.StringVar(&image, "image", "", "image file: jpeg, png or webp (required)")
	s.IntVar(&quorum, "quorum", 0, "successful vision calls needed, 1..3 (default 2)")
	s.BoolVar(&earlyCancel, "early-cancel", false, "cancel remaining vision calls once quorum is met")
	s.StringVar(&models, "vision-models", "", "three comma-separated vision model ids, one per slot")
	s.IntVar(&visionMs, "vision-timeout-ms", 0, "per-attempt vision timeout, 1000..120000 (default 30000)")
	s.IntVar(&judgeMs, "judge-timeout-ms", 0, "per-attempt judge timeout, 1000..120000 (default 20000)")
	s.BoolVar(&wait, "wait", false, "wait for the result, showing progress")
	if err := s.Parse(args); err != nil {
		return usageOrHelp(err)
	}
	if item == "" || image == "" {
		return usageErr("consensus: --item and --image are required")
	}
	// The size first: an over-size file is refused without being read.
	st, err := os.Stat(image)
	if err != nil {
		return usageErr("consensus: --image: %v", err)
	}
	if err := conn.limits.CheckImageSize("image", st.Size()); err != nil {
		return rejected(err)
	}
	data, err := os.ReadFile(image)
	if err != nil {
		return usageErr("consensus: --image: %v", err)
	}
	opts := &wire.ConsensusOptions{EarlyCancel: earlyCancel}
	if quorum != 0 {
		opts.Quorum = &quorum
	}
	if visionMs != 0 {
		opts.VisionTimeoutMs = &visionMs
	}
	if judgeMs != 0 {
		opts.JudgeTimeoutMs = &judgeMs
	}
	if models != "" {
		opts.VisionModelIDs = strings.Split(models, ",")
	}

	c, closeFn, err := conn.client(ctx)
	if err != nil {
		return err
	}
	defer closeFn()
	run, err := c.StartConsensus(ctx, inferflow.ConsensusRequest{ItemID: item, Image: data, Options: opts})
	if err != nil {
		return rejected(err)
	}
	verb := "started"
	if run.Attached {
		verb = "attached to existing"
	}
	fmt.Fprintf(stderr, "%s workflow %s (run %s)\n", verb, run.GetID(), run.GetRunID())
	if !wait {
		return printJSON(stdout, map[string]string{"workflowId": run.GetID(), "runId": run.GetRunID()})
	}

	done := make(chan struct{})
	defer close(done)
	go showProgress(ctx, done, stderr, func(ctx context.Context) (string, error) {
		p, err := c.ConsensusProgress(ctx, run)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "stage %-10s", p.Stage)
		for _, s := range p.Slots {
			fmt.Fprintf(&b, " slot%d=%s", s.CallIndex, s.Status)
			if s.ErrorCode != "" {
				fmt.Fprintf(&b, "(%s)", s.ErrorCode)
			}
		}
		return b.String(), nil
	})

	var res wire.ConsensusResult
	if err := run.Get(ctx, &res); err != nil {
		return workflowFailure(stdout, err, &wire.ConsensusFailure{})
	}
	return printJSON(stdout, res)
}

// showProgress prints a line whenever the workflow's progress changes, until
// done is closed. It is owned by the command and ends with it.
func showProgress(ctx context.Context, done <-chan struct{}, w io.Writer, query func(context.Context) (string, error)) {
	t := time.NewTicker(300 * time.Millisecond)
	defer t.Stop()
	last := ""
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		line, err := query(qctx)
		cancel()
		if err == nil && line != last {
			fmt.Fprintln(w, "  "+line)
			last = line
		}
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// workflowFailure prints a typed failure as JSON and returns an exit error
// carrying its code; other errors (cancelled, unreachable) pass through.
func workflowFailure(stdout io.Writer, err error, details any) error {
	f, ok := inferflow.AsFailure(err)
	if !ok {
		return err
	}
	out := map[string]any{"errorCode": f.Code, "message": f.Message}
	if f.Details(details) == nil {
		out["details"] = details
	}
	_ = printJSON(stdout, out)
	return &exitError{code: exitFailure, err: fmt.Errorf("workflow failed: %s", f.Code)}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func usageOrHelp(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageErr("%v", err)
}
