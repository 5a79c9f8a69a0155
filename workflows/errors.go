package workflows

import (
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/inferflow/inferflow/wire"
)

// activityErrorCode reads the code from a consensus activity's failure: the
// application error's type when it is one of the activity codes, TIMEOUT
// for a Temporal timeout (start-to-close or heartbeat), INTERNAL_ERROR for a
// panic, and SERVER_ERROR for anything else (the safe default: transient),
// so every failure lands in a defined code and a failure bucket.
func activityErrorCode(err error) wire.Code {
	var panicErr *temporal.PanicError
	if errors.As(err, &panicErr) {
		return wire.CodeInternalError
	}
	switch t := errorType(err); t {
	case wire.CodeTimeout, wire.CodeRateLimited, wire.CodeServerError, wire.CodeClientError, wire.CodeInvalidOutput,
		wire.CodeInvalidInput, wire.CodeStorageError, wire.CodeInternalError:
		return t
	case wire.CodeValidationFailed:
		return wire.CodeInvalidInput // an older worker's name for an image a vision call refused
	case "PanicError":
		return wire.CodeInternalError
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return wire.CodeTimeout
	}
	return wire.CodeServerError
}

// errorType is the type of the application error in err, or "".
func errorType(err error) wire.Code {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return wire.Code(appErr.Type())
	}
	return ""
}

// rootMessage is the innermost error message, without the activity wrapper
// or the SDK's "(type: ..., retryable: ...)" suffix.
func rootMessage(err error) string {
	msg := ""
	for e := err; e != nil; e = errors.Unwrap(e) {
		if appErr, ok := e.(*temporal.ApplicationError); ok {
			msg = appErr.Message()
		} else {
			msg = e.Error()
		}
	}
	return msg
}

// errorMeta describes err for a DLQ record.
func errorMeta(err error) *wire.ErrorMeta {
	meta := &wire.ErrorMeta{Name: "Error", Message: rootMessage(err)}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		meta.Name, meta.Code = "ApplicationError", appErr.Type()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		meta.Name, meta.Code = "TimeoutError", timeoutErr.TimeoutType().String()
	}
	return meta
}

// codes converts codes to the strings the SDK's retry policy takes.
func codes(cs ...wire.Code) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}
