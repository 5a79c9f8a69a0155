package workflows

import (
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/inferflow/inferflow/wire"
)

// activityErrorCode reads the code from an activity failure: the application
// error's type, TIMEOUT for a Temporal timeout (start-to-close or
// heartbeat), SERVER_ERROR for anything else (the safe default: transient).
func activityErrorCode(err error) wire.Code {
	if t := errorType(err); t != "" {
		return t
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
