package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/inferflow/inferflow/internal/blob"
	"github.com/inferflow/inferflow/internal/provider"
)

// ErrValidationFailed is the application error type for input that can never
// succeed (a missing blob, a hash mismatch, an undecodable image).
const ErrValidationFailed = "VALIDATION_FAILED"

// modelError turns a provider failure into a Temporal application error whose
// type is the seed's code. Transient codes stay retryable, with a provider's
// Retry-After as the next retry delay; permanent ones are non-retryable. A
// cancellation is returned as is, so Temporal records the activity as
// cancelled rather than failed.
func modelError(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return ctx.Err()
	}
	var bad *provider.InvalidInputError
	if errors.As(err, &bad) {
		return temporal.NewNonRetryableApplicationError(err.Error(), string(provider.CodeInvalidInput), err)
	}
	code := provider.CodeOf(err)
	return temporal.NewApplicationErrorWithOptions(err.Error(), string(code), temporal.ApplicationErrorOptions{
		NonRetryable:   !code.Transient(),
		NextRetryDelay: provider.RetryAfterOf(err),
		Cause:          err,
	})
}

// imageError classifies a failure to load an image: a missing or mismatched
// blob is the caller's mistake (VALIDATION_FAILED); anything else is I/O and
// worth a retry.
func imageError(err error) error {
	var bad *provider.InvalidInputError
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrMismatch) || errors.Is(err, blob.ErrBadRef) || errors.As(err, &bad) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrValidationFailed, err)
	}
	return err
}
