package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/storeconfig"
)

const ledgerUsage = `usage: starter ledger <credit|balance|holds|dlq|audit> [flags]

  credit   --user U --amount MICRO [--key K]   fund an account (idempotent on --key)
  balance  --user U                            available, held and spent micro-credits
  holds    --user U                            the user's reservations
  dlq      [--status open|resolved|escalated]  dead-letter records of failed captures and releases
  audit                                        check the ledger's invariants
`

// ledgerCmd talks to the credit ledger directly (the billing store), so a
// person can seed accounts and look at balances, holds and the DLQ.
func ledgerCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, ledgerUsage)
		return usageErr("ledger: a subcommand is required")
	}
	sub := args[0]
	var (
		dsn, user, key, status string
		amount                 int64
	)
	s := envflag.New("starter ledger " + sub)
	s.SetOutput(stderr)
	envflag.Var(s, &dsn, storeconfig.Settings.LedgerDSN)
	switch sub {
	case "credit":
		s.StringVar(&user, "user", "", "user id (required)")
		s.Int64Var(&amount, "amount", 0, "micro-credits to add (required, > 0)")
		s.StringVar(&key, "key", "", "idempotency key (default: credit-<user>-<amount>-<unix seconds>)")
	case "balance", "holds":
		s.StringVar(&user, "user", "", "user id (required)")
	case "dlq":
		s.StringVar(&status, "status", "", "open, resolved or escalated (default: all)")
	case "audit":
	default:
		fmt.Fprint(stderr, ledgerUsage)
		return usageErr("ledger: unknown subcommand %q", sub)
	}
	if err := s.Parse(args[1:]); err != nil {
		return usageOrHelp(err)
	}
	if sub != "dlq" && sub != "audit" && user == "" {
		return usageErr("ledger %s: --user is required", sub)
	}
	l, err := ledger.Open(ctx, ledger.Config{DSN: dsn})
	if err != nil {
		return storeconfig.Settings.LedgerDSN.Errorf("%w", err)
	}
	defer l.Close()

	switch sub {
	case "credit":
		if amount <= 0 {
			return usageErr("ledger credit: --amount must be > 0 micro-credits")
		}
		if key == "" {
			key = fmt.Sprintf("credit-%s-%d-%d", user, amount, time.Now().Unix())
		}
		if err := l.Credit(ctx, user, amount, key); err != nil {
			return &exitError{code: exitFailure, err: err}
		}
		fallthrough
	case "balance":
		b, err := l.Balance(ctx, user)
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"userId": user, "balance": b})
	case "holds":
		holds, err := l.Holds(ctx, user)
		if err != nil {
			return err
		}
		return printList(stdout, holds)
	case "dlq":
		recs, err := l.ListDLQ(ctx, ledger.DLQStatus(status))
		if err != nil {
			return err
		}
		return printList(stdout, recs)
	default: // audit
		rep, err := l.Audit(ctx)
		if err != nil {
			return err
		}
		if err := printJSON(stdout, rep); err != nil {
			return err
		}
		if len(rep.Violations) > 0 {
			return &exitError{code: exitFailure, err: fmt.Errorf("ledger audit found %d violations", len(rep.Violations))}
		}
		return nil
	}
}

// printList prints a listing: no rows is [], never null.
func printList[T any](w io.Writer, rows []T) error {
	if rows == nil {
		rows = []T{}
	}
	return printJSON(w, rows)
}
