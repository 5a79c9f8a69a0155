package wire

import (
	"errors"
	"fmt"
	"math"
)

// ConsensusInput starts one evaluation (workflow ConsensusEvaluation).
type ConsensusInput struct {
	ItemID  string            `json:"itemId"`
	Image   Image             `json:"image"`
	Options *ConsensusOptions `json:"options,omitempty"`

	undecodable FieldErrors // see UnmarshalJSON
}

// ConsensusOptions are all optional; nil takes the default. Pointers keep
// "not given" apart from an explicit, invalid zero.
type ConsensusOptions struct {
	Quorum          *int     `json:"quorum,omitempty"`
	VisionTimeoutMs *int     `json:"visionTimeoutMs,omitempty"`
	JudgeTimeoutMs  *int     `json:"judgeTimeoutMs,omitempty"`
	EarlyCancel     bool     `json:"earlyCancel,omitempty"`
	VisionModelIDs  []string `json:"visionModelIds,omitempty"`
}

// ConsensusResult is a successful evaluation.
type ConsensusResult struct {
	ItemID     string         `json:"itemId"`
	Valuations []VisionResult `json:"valuations"`
	Judge      JudgeResult    `json:"judge"`
	// Degraded is true when quorum was met but some calls genuinely failed;
	// cancelled calls do not count.
	Degraded   bool    `json:"degraded"`
	DurationMs float64 `json:"durationMs"`
}

// ConsensusFailure is carried as the details of a failed evaluation's
// application error, whose type is its Code.
type ConsensusFailure struct {
	ItemID         string          `json:"itemId"`
	RetryStrategy  RetryStrategy   `json:"retryStrategy"`
	FailureSummary *FailureSummary `json:"failureSummary,omitempty"`
	JudgeErrorCode Code            `json:"judgeErrorCode,omitempty"`
	Failures       []SlotFailure   `json:"failures,omitempty"`
	// InvalidFields names each invalid input field of a VALIDATION_FAILED.
	InvalidFields FieldErrors `json:"invalidFields,omitempty"`
}

// FailureSummary counts genuine vision failures by kind; cancelled calls are
// not failures. ClientErrorCount includes INVALID_INPUT (the request itself
// was refused); TransientCount every transient code.
type FailureSummary struct {
	TransientCount     int `json:"transientCount"`
	ClientErrorCount   int `json:"clientErrorCount"`
	InvalidOutputCount int `json:"invalidOutputCount"`
	// InternalErrorCount counts INTERNAL_ERROR: a bug, for a person.
	InternalErrorCount int `json:"internalErrorCount,omitempty"`
}

// SlotFailure is one failed vision call.
type SlotFailure struct {
	CallIndex int    `json:"callIndex"`
	ErrorCode Code   `json:"errorCode"`
	Message   string `json:"message,omitempty"`
}

// Stage is where an evaluation is, as the progress query reports it.
type Stage string

const (
	StageValidating Stage = "validating"
	StageVision     Stage = "vision"
	StageJudge      Stage = "judge"
	StageDone       Stage = "done"
	StageFailed     Stage = "failed"
)

// SlotStatus is one vision call slot's state.
type SlotStatus string

const (
	SlotPending   SlotStatus = "pending"
	SlotSucceeded SlotStatus = "succeeded"
	SlotFailed    SlotStatus = "failed"
	SlotCancelled SlotStatus = "cancelled"
)

// ConsensusProgress is what the progress query (QueryProgress) returns.
type ConsensusProgress struct {
	Stage Stage          `json:"stage"`
	Slots []SlotProgress `json:"slots"`
}

// SlotProgress is one vision call slot.
type SlotProgress struct {
	CallIndex int        `json:"callIndex"`
	ModelID   string     `json:"modelId,omitempty"`
	Status    SlotStatus `json:"status"`
	ErrorCode Code       `json:"errorCode,omitempty"`
}

// Values of the ConsensusOutcome search attribute besides error codes.
const (
	OutcomeRunning   = "RUNNING"
	OutcomeSucceeded = "SUCCEEDED"
	OutcomeDegraded  = "DEGRADED"
)

// VisionInput is one vision call slot (activity VisionCall).
type VisionInput struct {
	ItemID    string `json:"itemId"`
	CallIndex int    `json:"callIndex"`
	// ModelID is the slot's model; "" means the provider's default.
	ModelID string `json:"modelId,omitempty"`
	Image   Image  `json:"image"`
}

// VisionResult is one successful valuation.
type VisionResult struct {
	CallIndex  int     `json:"callIndex"`
	Value      float64 `json:"value"`
	Confidence float64 `json:"confidence"`
	ModelID    string  `json:"modelId"`
	DurationMs float64 `json:"durationMs"`
}

// JudgeInput is what the judge sees (activity JudgeCall): anonymous
// valuations ordered by call index.
type JudgeInput struct {
	ItemID     string      `json:"itemId"`
	Valuations []Valuation `json:"valuations"`
}

// Valuation is one anonymous value for the judge.
type Valuation struct {
	Value      float64 `json:"value"`
	Confidence float64 `json:"confidence"`
}

// JudgeResult is the consensus.
type JudgeResult struct {
	ConsensusValue float64 `json:"consensusValue"`
	Confidence     float64 `json:"confidence"`
	Rationale      string  `json:"rationale"`
	ModelID        string  `json:"modelId"`
}

// ValidateValuations checks valuations before they reach a judge: at least
// one, each value finite, each confidence in [0, 1]. A failure is the
// caller's bug (JUDGE_INVALID_INPUT), never the judge's.
func ValidateValuations(vs []Valuation) error {
	if len(vs) == 0 {
		return errors.New("valuations: at least one valuation is required")
	}
	for i, v := range vs {
		if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
			return fmt.Errorf("valuations[%d].value: must be finite", i)
		}
		if !(v.Confidence >= 0 && v.Confidence <= 1) { // also catches NaN
			return fmt.Errorf("valuations[%d].confidence: must be in [0, 1]", i)
		}
	}
	return nil
}
