// Package provider holds the model clients inferflow's activities call: a
// vision model that values an item image, a judge that turns several
// valuations into a consensus, and a completer for billed inference.
//
// Three implementations sit behind the same interfaces:
//
//   - Offline (the default): deterministic, no network, derives its answers
//     from the input itself, so `make run` and tests work on one machine.
//   - StatisticalJudge: a confidence-weighted median with outlier rejection,
//     used by the offline set and selectable for the HTTP set.
//   - OpenAI: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM,
//     Ollama, LM Studio, OpenRouter) with image input and JSON output.
//
// Retries belong to Temporal, not to this package: every call makes exactly
// one attempt. Failures are *Error values carrying the model call codes
// (TIMEOUT, RATE_LIMITED, SERVER_ERROR, CLIENT_ERROR, INVALID_OUTPUT; see
// CONTRACT.md#model-call-codes) and, for 429s, the server's Retry-After, so
// an activity can map them to a retry policy. A cancelled context is returned
// as a wrapped ctx.Err(), never as an *Error, so callers can tell an
// intentional cancel from a failure.
package provider
