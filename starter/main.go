// Command starter starts inferflow workflows from a shell or a backend
// script and prints their results as JSON.
//
//	starter consensus --item ID --image FILE [--quorum N] [--early-cancel] [--vision-models a,b,c] [--wait]
//	starter inference --user U --job J --model M --prompt-tokens N [--prompt TEXT] [--billing-policy P] [--wait]
//	starter batch --items FILE.jsonl [--images DIR] [--concurrency N] [--out results.jsonl] [--retry-failed]
//	starter ledger credit|balance|holds|dlq|audit ...
//
// It starts the evaluation (or attaches to the existing one for the same
// item), and with --wait shows progress and prints the result; on failure it
// prints the error code and details and exits non-zero.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/inferflow/inferflow/pkg/inferflow"
)

const usage = `usage: starter <command> [flags]

commands:
  consensus   evaluate an item image (consensus of vision models + judge)
  inference   run a billed inference job (reserve, model call, capture)
  batch       evaluate a whole catalog (JSONL of items), a window at a time
  ledger      credit accounts, read balances, holds and the DLQ

run "starter <command> -h" for the flags of a command.
`

// exit codes: 0 success, 1 workflow failure, 2 usage or configuration error,
// 3 infrastructure error (Temporal unreachable, ...).
const (
	exitFailure = 1
	exitUsage   = 2
	exitInfra   = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "consensus":
		err = consensusCmd(ctx, args[1:], stdout, stderr)
	case "inference":
		err = inferenceCmd(ctx, args[1:], stdout, stderr)
	case "batch":
		err = batchCmd(ctx, args[1:], stdout, stderr)
	case "ledger":
		err = ledgerCmd(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "starter: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		fmt.Fprintln(stderr, "starter:", ee.err)
		return ee.code
	default:
		fmt.Fprintln(stderr, "starter:", err)
		return exitInfra
	}
}

type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// rejected gives a request the client library refused as invalid
// (inferflow.ValidationError) the failure exit status; other errors pass.
func rejected(err error) error {
	var invalid *inferflow.ValidationError
	if errors.As(err, &invalid) {
		return &exitError{code: exitFailure, err: err}
	}
	return err
}

func usageErr(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}
