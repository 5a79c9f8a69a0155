package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/pkg/inferflow"
	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
)

func inferenceCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn     connFlags
		in       wire.InferenceInput
		timeout  int
		policy   string
		wait     bool
		horizon  int
		backoff  int
		opts     wire.InferenceOptions
		reconOpt wire.ReconcileOptions
	)
	s := envflag.New("starter inference")
	s.SetOutput(stderr)
	conn.register(s)
	conn.registerPromptLimit(s)
	s.StringVar(&in.UserID, "user", "", "user id whose credits pay (required)")
	s.StringVar(&in.JobID, "job", "", "job id (required); a job id runs at most once")
	s.StringVar(&in.Payload.ModelID, "model", "offline-small", "allowlisted model id")
	s.IntVar(&in.Payload.PromptTokens, "prompt-tokens", 0, "prompt token estimate used to reserve credits, 1..200000 (required)")
	s.StringVar(&in.Payload.Prompt, "prompt", "", "prompt text")
	s.IntVar(&timeout, "timeout-ms", 0, "model call timeout, 1000..120000 (default 30000)")
	s.StringVar(&policy, "billing-policy", "", "strict_billing (default) or best_effort_billing")
	s.IntVar(&backoff, "reconcile-backoff-ms", 0, "first reconciliation retry delay (default 1000)")
	s.IntVar(&horizon, "reconcile-horizon-ms", 0, "give up reconciling and escalate after this long (default 24h)")
	s.BoolVar(&wait, "wait", false, "wait for the result, showing the billing state")
	if err := s.Parse(args); err != nil {
		return usageOrHelp(err)
	}
	if in.UserID == "" || in.JobID == "" || in.Payload.PromptTokens == 0 {
		return usageErr("inference: --user, --job and --prompt-tokens are required")
	}
	opts.BillingPolicy = wire.BillingPolicy(policy)
	if timeout != 0 {
		opts.TimeoutMs = &timeout
	}
	reconOpt.InitialBackoffMs, reconOpt.HorizonMs = backoff, horizon
	if reconOpt != (wire.ReconcileOptions{}) {
		opts.Reconcile = &reconOpt
	}
	in.Options = &opts
	if err := conn.limits.CheckPromptSize(in.Payload.Prompt); err != nil {
		return &exitError{code: exitFailure, err: err} // before connecting: nothing to start
	}

	c, closeFn, err := conn.client(ctx)
	if err != nil {
		return err
	}
	defer closeFn()
	run, err := c.StartInference(ctx, in)
	var (
		dup     *inferflow.DuplicateJobError
		invalid *inferflow.ValidationError
	)
	switch {
	case errors.As(err, &dup):
		_ = printJSON(stdout, map[string]any{"errorCode": wire.CodeDuplicateJob, "message": dup.Error(),
			"details": wire.InferenceFailure{JobID: in.JobID, RetryStrategy: workflows.RetryStrategyFor(wire.CodeDuplicateJob)}})
		return &exitError{code: exitFailure, err: dup}
	case errors.As(err, &invalid):
		return &exitError{code: exitFailure, err: err}
	case err != nil:
		return err
	}
	fmt.Fprintf(stderr, "started workflow %s (run %s)\n", run.GetID(), run.GetRunID())
	if !wait {
		return printJSON(stdout, map[string]string{"workflowId": run.GetID(), "runId": run.GetRunID()})
	}
	done := make(chan struct{})
	defer close(done)
	go showProgress(ctx, done, stderr, func(ctx context.Context) (string, error) {
		st, err := c.JobStatus(ctx, run)
		return "billing state " + string(st.State), err
	})
	var res wire.InferenceResult
	if err := run.Get(ctx, &res); err != nil {
		return workflowFailure(stdout, err, &wire.InferenceFailure{})
	}
	return printJSON(stdout, res)
}
