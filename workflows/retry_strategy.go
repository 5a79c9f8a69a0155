package workflows

import "github.com/inferflow/inferflow/wire"

// visionRetryStrategy derives the strategy from the failure composition: an
// internal error (a bug) → dlq_only; no permanent failures →
// retry_with_backoff; a strict majority of permanent ones → no_retry;
// otherwise dlq_only.
func visionRetryStrategy(s wire.FailureSummary, totalFailures int) wire.RetryStrategy {
	permanent := s.ClientErrorCount + s.InvalidOutputCount
	switch {
	case s.InternalErrorCount > 0:
		return wire.DLQOnly
	case permanent == 0:
		return wire.RetryWithBackoff
	case float64(permanent) > float64(totalFailures)/2:
		return wire.NoRetry
	default:
		return wire.DLQOnly
	}
}

// judgeRetryStrategy maps the judge's last error code to a strategy.
func judgeRetryStrategy(code wire.Code) wire.RetryStrategy {
	switch {
	case code.Transient():
		return wire.RetryWithBackoff
	case code == wire.CodeInternalError:
		return wire.DLQOnly
	}
	return wire.NoRetry // CLIENT_ERROR, INVALID_OUTPUT, INVALID_INPUT
}
