package ledger

import (
	"errors"
	"fmt"
)

// Reason is the machine-readable cause of a business rejection. The saga maps
// a rejection to a non-retryable failure (RESERVATION_FAILED / CAPTURE_FAILED,
// dlq_only); anything that is not a rejection is infrastructure and retryable.
// See CONTRACT.md#ledger-rejections.
type Reason string

const (
	ReasonInsufficientCredits     Reason = "INSUFFICIENT_CREDITS"
	ReasonUnknownModel            Reason = "UNKNOWN_MODEL"
	ReasonModelDisabled           Reason = "MODEL_DISABLED"
	ReasonUsageExceedsReservation Reason = "USAGE_EXCEEDS_RESERVATION"
	ReasonInvalidUsage            Reason = "INVALID_USAGE"
	ReasonHoldNotActive           Reason = "HOLD_NOT_ACTIVE" // already captured or released
	ReasonHoldExpired             Reason = "HOLD_EXPIRED"
	ReasonReservationNotFound     Reason = "RESERVATION_NOT_FOUND"
	ReasonInvalidAmount           Reason = "INVALID_AMOUNT"
	ReasonInvalidArgument         Reason = "INVALID_ARGUMENT" // empty ids, bad TTL, bad DLQ fields
	ReasonNotFound                Reason = "NOT_FOUND"        // DLQ record absent
)

// RejectedError is a business rejection: retrying the same request cannot
// succeed until something else changes (credits, catalog, hold state).
type RejectedError struct {
	Reason Reason
	Msg    string
}

func (e *RejectedError) Error() string {
	if e.Msg == "" {
		return "ledger: rejected: " + string(e.Reason)
	}
	return "ledger: rejected: " + string(e.Reason) + ": " + e.Msg
}

func reject(r Reason, format string, args ...any) error {
	return &RejectedError{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// IsRejected reports whether err is (or wraps) a business rejection.
func IsRejected(err error) bool {
	var re *RejectedError
	return errors.As(err, &re)
}

// RejectionReason returns the rejection reason carried by err, if any.
func RejectionReason(err error) (Reason, bool) {
	var re *RejectedError
	if errors.As(err, &re) {
		return re.Reason, true
	}
	return "", false
}

// ErrIdempotencyConflict is matched (errors.Is) by every
// *IdempotencyConflictError: a key was reused with different parameters.
// It is a caller bug, never retryable, and not a RejectedError.
var ErrIdempotencyConflict = errors.New("ledger: idempotency key reused with different parameters")

// IdempotencyConflictError names the key and the operation that first used it.
type IdempotencyConflictError struct {
	Key string
	Op  string // operation that owns the key (reserve, capture, release, credit)
}

func (e *IdempotencyConflictError) Error() string {
	return fmt.Sprintf("%v: key %q (first used by %s)", ErrIdempotencyConflict, e.Key, e.Op)
}

func (e *IdempotencyConflictError) Is(target error) bool { return target == ErrIdempotencyConflict }
