package ledger

import (
	"context"
	"errors"
)

func openPostgres(ctx context.Context, cfg Config, cat catalog) (Ledger, error) {
	return nil, errors.New("ledger: postgres backend not implemented yet")
}
