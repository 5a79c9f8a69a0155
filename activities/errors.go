package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/pkg/blob"
	"github.com/inferflow/inferflow/wire"
)

// modelError turns a provider failure into a Temporal application error whose
// type is its wire code (wireCode). Transient codes stay retryable, with a provider's
// Retry-After as the next retry delay; permanent ones are non-retryable. A
// cancellation is returned as is, so Temporal records the activity as
// cancelled rather than failed.
func modelError(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return ctx.Err()
	}
	var bad *provider.InvalidInputError
	if errors.As(err, &bad) {
		return temporal.NewNonRetryableApplicationError(err.Error(), string(wire.CodeInvalidInput), err)
	}
	code := wireCode(provider.CodeOf(err))
	return temporal.NewApplicationErrorWithOptions(err.Error(), string(code), temporal.ApplicationErrorOptions{
		NonRetryable:   !code.Transient(),
		NextRetryDelay: provider.RetryAfterOf(err),
		Cause:          err,
	})
}

// imageError classifies a failure to load an image: a missing or mismatched
// blob is the caller's mistake (wire.CodeValidationFailed); anything else is I/O and
// worth a retry.
func imageError(err error) error {
	var bad *provider.InvalidInputError
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrMismatch) || errors.Is(err, blob.ErrBadRef) || errors.As(err, &bad) {
		return temporal.NewNonRetryableApplicationError(err.Error(), string(wire.CodeValidationFailed), err)
	}
	return err
}

// wireCode is the wire code of a provider's model-call code: the same names,
// checked by TestWireCodes.
func wireCode(c provider.Code) wire.Code { return wire.Code(c) }
