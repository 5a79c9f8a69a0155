package activities

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"go.temporal.io/sdk/activity"
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
		return temporal.NewNonRetryableApplicationError(err.Error(), string(wire.CodeInvalidInput), nil)
	}
	code := wireCode(provider.CodeOf(err))
	return codeError(ctx, code, err.Error(), provider.RetryAfterOf(err))
}

// codeError is the application error of a wire code. The message is the
// whole story, so no cause is attached (the SDK would print it again). A
// transient failure that Temporal will retry is expected: it is marked
// benign, which the SDK logs at DEBUG and leaves out of its failure metric;
// the last attempt's failure, and every permanent one, stays an error.
func codeError(ctx context.Context, code wire.Code, msg string, retryAfter time.Duration) error {
	retryLeft := false
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		retryLeft = retriesLeft(info.Attempt, info.RetryPolicy)
	}
	return newCodeError(code, msg, retryAfter, retryLeft)
}

func newCodeError(code wire.Code, msg string, retryAfter time.Duration, retryLeft bool) error {
	opts := temporal.ApplicationErrorOptions{NonRetryable: !code.Transient(), NextRetryDelay: retryAfter}
	if code.Transient() && retryLeft {
		opts.Category = temporal.ApplicationErrorCategoryBenign
	}
	return temporal.NewApplicationErrorWithOptions(msg, string(code), opts)
}

// retriesLeft reports whether a retry policy allows another attempt after
// attempt (counted from 1).
func retriesLeft(attempt int32, rp *temporal.RetryPolicy) bool {
	return rp == nil || rp.MaximumAttempts == 0 || attempt < rp.MaximumAttempts
}

// imageError classifies a failure to load an image: a missing, mismatched
// or undecodable blob is the caller's mistake (invalid: VALIDATION_FAILED
// for VerifyImage, INVALID_INPUT for a vision call); anything else is I/O,
// STORAGE_ERROR, worth a retry.
func imageError(ctx context.Context, err error, invalid wire.Code) error {
	var bad *provider.InvalidInputError
	switch {
	case errors.As(err, &bad):
		return temporal.NewNonRetryableApplicationError(bad.Reason, string(invalid), nil)
	case errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrMismatch) || errors.Is(err, blob.ErrBadRef):
		return temporal.NewNonRetryableApplicationError(err.Error(), string(invalid), nil)
	}
	return codeError(ctx, wire.CodeStorageError, "read image: "+err.Error(), 0)
}

// internalOnPanic turns a panic in an activity into INTERNAL_ERROR, not
// retried (the same input would panic again), logged with its stack for a
// person. Deferred first thing by each activity, with its named error.
func internalOnPanic(ctx context.Context, err *error) {
	p := recover()
	if p == nil {
		return
	}
	msg := fmt.Sprintf("activity panicked: %v", p)
	activity.GetLogger(ctx).Error("Activity panicked", "evt", "ACTIVITY_PANIC", "error", msg, "stack", string(debug.Stack()))
	*err = temporal.NewNonRetryableApplicationError(msg, string(wire.CodeInternalError), nil)
}

// wireCode is the wire code of a provider's model-call code: the same names,
// checked by TestWireCodes.
func wireCode(c provider.Code) wire.Code { return wire.Code(c) }
