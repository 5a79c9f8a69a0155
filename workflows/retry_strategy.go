package workflows

// RetryStrategy tells the caller what to do with a failed run.
type RetryStrategy string

const (
	NoRetry          RetryStrategy = "no_retry"
	RetryWithBackoff RetryStrategy = "retry_with_backoff"
	DLQOnly          RetryStrategy = "dlq_only"
)

// visionRetryStrategy derives the strategy from the failure composition
// exactly as the seed does: no permanent failures → retry_with_backoff; a
// strict majority of permanent ones → no_retry; otherwise dlq_only.
func visionRetryStrategy(s FailureSummary, totalFailures int) RetryStrategy {
	permanent := s.ClientErrorCount + s.InvalidOutputCount
	switch {
	case permanent == 0:
		return RetryWithBackoff
	case float64(permanent) > float64(totalFailures)/2:
		return NoRetry
	default:
		return DLQOnly
	}
}

// judgeRetryStrategy maps the judge's last error code to a strategy.
func judgeRetryStrategy(code string) RetryStrategy {
	switch code {
	case "TIMEOUT", "RATE_LIMITED", "SERVER_ERROR":
		return RetryWithBackoff
	default: // CLIENT_ERROR, INVALID_OUTPUT, INVALID_INPUT
		return NoRetry
	}
}

// isTransient reports the seed's transient vision / judge codes.
func isTransient(code string) bool {
	return code == "TIMEOUT" || code == "RATE_LIMITED" || code == "SERVER_ERROR"
}
