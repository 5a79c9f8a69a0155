package wire

import (
	"errors"
	"fmt"
	"time"
)

// Bounds of a batch (CONTRACT.md#consensus-batch). Every caller-chosen size
// is bounded: the window, the items given inline, the items read per page,
// the length of one items line, and the items per run before continue-as-new.
const (
	MaxBatchConcurrency = 500
	// MaxInlineBatchItems: more items go in a JSONL file in the blob store
	// (BatchInput.ItemsRef), so history stays small.
	MaxInlineBatchItems = 1000
	// MaxBatchItems bounds one batch.
	MaxBatchItems = 100_000
	// MaxBatchItemsBytes bounds the items file in the blob store.
	MaxBatchItemsBytes = 64 << 20
	// MaxBatchLineBytes bounds one line of the items file (an item with a
	// blob reference is a few hundred bytes; an inline image is up to
	// MaxInlineImageBytes, base64).
	MaxBatchLineBytes = 512 << 10
	// BatchPageItems is how many items one ReadBatchItems call returns.
	BatchPageItems = 200
	// DefaultBatchItemsPerRun and MaxBatchItemsPerRun: a run reads at most
	// this many items, evaluates them and then continues as new.
	DefaultBatchItemsPerRun = 1000
	MaxBatchItemsPerRun     = 4000
)

// BatchWorkflowID is the workflow id of a batch: one execution at a time per
// batch id.
func BatchWorkflowID(batchID string) string { return "batch-" + batchID }

// BatchInput starts a ConsensusBatch, or continues one (State set).
type BatchInput struct {
	BatchID string `json:"batchId"`
	// Items, or ItemsRef: a JSONL file of ConsensusInput in the blob store,
	// one item per line, for lists too large for history.
	Items    []ConsensusInput `json:"items,omitempty"`
	ItemsRef *BlobRef         `json:"itemsRef,omitempty"`
	// Concurrency is the window: evaluations in flight at most.
	Concurrency int `json:"concurrency"`
	// RetryFailed re-runs the items whose earlier evaluation failed with a
	// retryable strategy (retry_with_backoff); other failures are reported
	// as they were.
	RetryFailed bool `json:"retryFailed,omitempty"`
	// ItemsPerRun bounds the children one run starts before it continues as
	// new; 0 means DefaultBatchItemsPerRun.
	ItemsPerRun int `json:"itemsPerRun,omitempty"`
	// State is carried from one run to the next; nil on the first run.
	State *BatchState `json:"state,omitempty"`

	undecodable FieldErrors // see UnmarshalJSON
}

// BatchFailure is the details of a batch refused as VALIDATION_FAILED: the
// batch, its retry strategy (no_retry) and each invalid field by its JSON
// path, an inline item's as "items[3].options.quorum".
type BatchFailure struct {
	BatchID       string        `json:"batchId"`
	RetryStrategy RetryStrategy `json:"retryStrategy"`
	InvalidFields FieldErrors   `json:"invalidFields,omitempty"`
}

// AsFieldErrors is err's invalid fields: a FieldErrors as it is, a
// *FieldError as a list of one, anything else none.
func AsFieldErrors(err error) FieldErrors {
	var many FieldErrors
	if errors.As(err, &many) {
		return many
	}
	var one *FieldError
	if errors.As(err, &one) {
		return FieldErrors{*one}
	}
	return nil
}

// Validate checks what can be checked without I/O. A refusal is a
// *FieldError naming the field by its JSON path, or the FieldErrors of
// fields whose JSON had the wrong type (see UnmarshalJSON).
func (in BatchInput) Validate() error {
	if len(in.undecodable) > 0 {
		return in.undecodable
	}
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if err := ValidateID("batchId", in.BatchID); err != nil {
		return err
	}
	switch {
	case in.ItemsRef != nil && len(in.Items) > 0:
		return bad("items", "give either items or itemsRef, not both")
	case in.ItemsRef == nil && len(in.Items) == 0:
		return bad("items", "at least one item is required")
	case len(in.Items) > MaxInlineBatchItems:
		return bad("items", "%d inline items, over the %d limit: store them as a JSONL file in the blob store and pass itemsRef", len(in.Items), MaxInlineBatchItems)
	case in.Concurrency < 1 || in.Concurrency > MaxBatchConcurrency:
		return bad("concurrency", "%d: must be in 1..%d", in.Concurrency, MaxBatchConcurrency)
	case in.ItemsPerRun < 0 || in.ItemsPerRun > MaxBatchItemsPerRun:
		return bad("itemsPerRun", "%d: must be in 0..%d", in.ItemsPerRun, MaxBatchItemsPerRun)
	}
	if in.ItemsRef != nil {
		if err := in.ItemsRef.Validate(); err != nil {
			return bad("itemsRef", "%v", err)
		}
		if in.ItemsRef.Size > MaxBatchItemsBytes {
			return bad("itemsRef.size", "%d bytes, over the %d byte limit", in.ItemsRef.Size, MaxBatchItemsBytes)
		}
	}
	return nil
}

// UndecodableItems lists the fields of inline items whose JSON had the
// wrong type, by path ("items[3].options.quorum"). Such an item would
// otherwise reach its evaluation with the field at its default: the
// unexported record does not survive the child's input encoding.
func (in BatchInput) UndecodableItems() FieldErrors {
	var bad FieldErrors
	for i, item := range in.Items {
		for _, fe := range item.Undecodable() {
			field := fmt.Sprintf("items[%d]", i)
			if fe.Field != "input" {
				field += "." + fe.Field
			}
			bad = append(bad, FieldError{Field: field, Reason: fe.Reason})
		}
	}
	return bad
}

// BatchState is what one run of a batch hands the next.
type BatchState struct {
	// Next is the index of the next inline item, or the byte offset of the
	// next line in the items file.
	Next      int64       `json:"next"`
	Total     int         `json:"total"`
	Counts    BatchCounts `json:"counts"`
	StartedAt time.Time   `json:"startedAt"`
	// Parts are the results written so far, one JSONL blob per run.
	Parts []BlobRef `json:"parts,omitempty"`
	Runs  int       `json:"runs"`
}

// BatchCounts counts settled items.
type BatchCounts struct {
	Succeeded    int          `json:"succeeded"`
	Degraded     int          `json:"degraded"`
	Failed       int          `json:"failed"`
	FailedByCode map[Code]int `json:"failedByCode,omitempty"`
}

// Done is the number of settled items.
func (c BatchCounts) Done() int { return c.Succeeded + c.Degraded + c.Failed }

// BatchProgress is what a batch's progress query (QueryProgress) returns.
type BatchProgress struct {
	BatchCounts
	Total   int `json:"total"`
	Running int `json:"running"`
	// ItemsPerSecond is items settled per second since the batch started;
	// EstimatedSecondsLeft follows from it (0 until the first item settles).
	ItemsPerSecond       float64 `json:"itemsPerSecond"`
	EstimatedSecondsLeft float64 `json:"estimatedSecondsLeft"`
	Runs                 int     `json:"runs"`
	Cancelled            bool    `json:"cancelled,omitempty"`
}

// ItemStatus is an item's status on its result line.
type ItemStatus string

// Item statuses of a result line.
const (
	ItemSucceeded ItemStatus = "succeeded"
	ItemDegraded  ItemStatus = "degraded"
	ItemFailed    ItemStatus = "failed"
)

// BatchResultLine is one line of a batch's results file: an item's result,
// or its error with code and retry strategy.
type BatchResultLine struct {
	ItemID string           `json:"itemId"`
	Status ItemStatus       `json:"status"`
	Result *ConsensusResult `json:"result,omitempty"`
	Error  *BatchItemError  `json:"error,omitempty"`
}

// BatchItemError is a failed item.
type BatchItemError struct {
	Code          Code              `json:"code"`
	Message       string            `json:"message"`
	RetryStrategy RetryStrategy     `json:"retryStrategy"`
	Details       *ConsensusFailure `json:"details,omitempty"`
}

// Retryable reports whether retry-failed re-runs the item.
func (l BatchResultLine) Retryable() bool {
	return l.Error != nil && l.Error.RetryStrategy == RetryWithBackoff
}

// BatchResult is a finished (or cancelled) batch: Results is the JSONL file
// of BatchResultLine in the blob store, one line per settled item.
type BatchResult struct {
	BatchID string      `json:"batchId"`
	Total   int         `json:"total"`
	Counts  BatchCounts `json:"counts"`
	Results *BlobRef    `json:"results,omitempty"`
}

// ReadBatchItemsInput reads one page of the items file (activity
// ReadBatchItems) from byte Offset.
type ReadBatchItemsInput struct {
	Ref    BlobRef `json:"ref"`
	Offset int64   `json:"offset"`
	Max    int     `json:"max"`
}

// ReadBatchItemsOutput is one page: Items in file order, Rejected lines that
// are not an item (each a failed result line), and Next, the offset of the
// line after the page (Ref.Size at the end).
type ReadBatchItemsOutput struct {
	Items    []ConsensusInput  `json:"items"`
	Rejected []BatchResultLine `json:"rejected,omitempty"`
	Next     int64             `json:"next"`
}

// Evaluation outcomes of AwaitEvaluation.
const (
	EvaluationCompleted = "completed"
	EvaluationFailed    = "failed"
	// EvaluationNotEvaluated: the earlier run was cancelled, terminated or
	// timed out; the item may be started again.
	EvaluationNotEvaluated = "not_evaluated"
)

// EvaluationOutcome is an existing evaluation's end (activity
// AwaitEvaluation), read when a batch meets an item evaluated before.
type EvaluationOutcome struct {
	Status string          `json:"status"`
	Line   BatchResultLine `json:"line"`
}

// ResultLine is a successful item's line.
func ResultLine(r ConsensusResult) BatchResultLine {
	status := ItemSucceeded
	if r.Degraded {
		status = ItemDegraded
	}
	return BatchResultLine{ItemID: r.ItemID, Status: status, Result: &r}
}

// FailedLine is a failed item's line.
func FailedLine(itemID string, code Code, msg string, strategy RetryStrategy, details *ConsensusFailure) BatchResultLine {
	return BatchResultLine{ItemID: itemID, Status: ItemFailed,
		Error: &BatchItemError{Code: code, Message: msg, RetryStrategy: strategy, Details: details}}
}
