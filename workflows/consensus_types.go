package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/inferflow/inferflow/activities"
)

// Consensus defaults and bounds, as the seed's RunConsensusOptionsSchema.
const (
	VisionCallCount       = 3
	DefaultQuorum         = 2
	DefaultVisionTimeout  = 30 * time.Second
	DefaultJudgeTimeout   = 20 * time.Second
	MinCallTimeout        = time.Second
	MaxCallTimeout        = 120 * time.Second
	MaxVisionRetries      = 1 // total attempts = retries + 1
	MaxJudgeRetries       = 1
	maxIDLength           = 200
	ConsensusWorkflowName = "ConsensusEvaluation"
)

// ConsensusInput starts one evaluation.
type ConsensusInput struct {
	ItemID  string            `json:"itemId"`
	Image   activities.Image  `json:"image"`
	Options *ConsensusOptions `json:"options,omitempty"`
}

// ConsensusOptions are all optional; nil takes the seed's default. Pointers
// keep "not given" apart from an explicit, invalid zero.
type ConsensusOptions struct {
	Quorum          *int     `json:"quorum,omitempty"`
	VisionTimeoutMs *int     `json:"visionTimeoutMs,omitempty"`
	JudgeTimeoutMs  *int     `json:"judgeTimeoutMs,omitempty"`
	EarlyCancel     bool     `json:"earlyCancel,omitempty"`
	VisionModelIDs  []string `json:"visionModelIds,omitempty"`
}

// consensusSettings are the options after defaults and validation.
type consensusSettings struct {
	quorum        int
	visionTimeout time.Duration
	judgeTimeout  time.Duration
	earlyCancel   bool
	modelIDs      []string // nil or VisionCallCount entries
}

// ConsensusResult is the seed's ConsensusResult.
type ConsensusResult struct {
	ItemID     string                    `json:"itemId"`
	Valuations []activities.VisionResult `json:"valuations"`
	Judge      activities.JudgeResult    `json:"judge"`
	// Degraded is true when quorum was met but some calls genuinely failed;
	// cancelled calls do not count.
	Degraded   bool    `json:"degraded"`
	DurationMs float64 `json:"durationMs"`
}

// ConsensusFailure is carried as the details of a failed evaluation's
// application error, whose type is the seed's error code.
type ConsensusFailure struct {
	ItemID         string          `json:"itemId"`
	RetryStrategy  RetryStrategy   `json:"retryStrategy"`
	FailureSummary *FailureSummary `json:"failureSummary,omitempty"`
	JudgeErrorCode string          `json:"judgeErrorCode,omitempty"`
	Failures       []SlotFailure   `json:"failures,omitempty"`
}

// FailureSummary counts genuine vision failures by kind (the seed's
// VisionFailureSummary); cancelled calls are not failures.
type FailureSummary struct {
	TransientCount     int `json:"transientCount"`
	ClientErrorCount   int `json:"clientErrorCount"`
	InvalidOutputCount int `json:"invalidOutputCount"`
}

// SlotFailure is one failed vision call.
type SlotFailure struct {
	CallIndex int    `json:"callIndex"`
	ErrorCode string `json:"errorCode"`
	Message   string `json:"message,omitempty"`
}

// Consensus error codes: the type of the workflow's application error.
const (
	CodeValidationFailed   = "VALIDATION_FAILED"
	CodeQuorumNotMet       = "QUORUM_NOT_MET"
	CodeVisionAllFailed    = "VISION_ALL_FAILED"
	CodeJudgeFailed        = "JUDGE_FAILED"
	CodeJudgeInvalidOutput = "JUDGE_INVALID_OUTPUT"
	CodeJudgeInvalidInput  = "JUDGE_INVALID_INPUT"
)

// ConsensusWorkflowID is the workflow id for an item: one evaluation per item.
func ConsensusWorkflowID(itemID string) string { return "consensus-" + itemID }

// ValidateID checks an item or job id: non-blank, bounded, printable.
func ValidateID(name, id string) error {
	switch {
	case strings.TrimSpace(id) == "":
		return fmt.Errorf("missing %s", name)
	case len(id) > maxIDLength:
		return fmt.Errorf("%s is %d bytes, over the %d byte limit", name, len(id), maxIDLength)
	case strings.IndexFunc(id, func(r rune) bool { return !unicode.IsPrint(r) || r == unicode.ReplacementChar }) >= 0:
		return fmt.Errorf("%s %q holds non-printable characters", name, id)
	}
	return nil
}

// settings validates the input and applies defaults; it is pure, so it runs
// in the workflow before any activity.
func (in ConsensusInput) settings() (consensusSettings, error) {
	s := consensusSettings{quorum: DefaultQuorum, visionTimeout: DefaultVisionTimeout, judgeTimeout: DefaultJudgeTimeout}
	if err := ValidateID("itemId", in.ItemID); err != nil {
		return s, err
	}
	if err := in.Image.Check(); err != nil {
		return s, fmt.Errorf("invalid image input: %w", err)
	}
	o := in.Options
	if o == nil {
		return s, nil
	}
	var errs []error
	if o.Quorum != nil {
		if *o.Quorum < 1 || *o.Quorum > VisionCallCount {
			errs = append(errs, fmt.Errorf("quorum %d must be 1..%d", *o.Quorum, VisionCallCount))
		}
		s.quorum = *o.Quorum
	}
	timeout := func(name string, v *int, dst *time.Duration) {
		if v == nil {
			return
		}
		d := time.Duration(*v) * time.Millisecond
		if d < MinCallTimeout || d > MaxCallTimeout {
			errs = append(errs, fmt.Errorf("%s %d must be %d..%d", name, *v, MinCallTimeout.Milliseconds(), MaxCallTimeout.Milliseconds()))
		}
		*dst = d
	}
	timeout("visionTimeoutMs", o.VisionTimeoutMs, &s.visionTimeout)
	timeout("judgeTimeoutMs", o.JudgeTimeoutMs, &s.judgeTimeout)
	s.earlyCancel = o.EarlyCancel
	if o.VisionModelIDs != nil {
		if len(o.VisionModelIDs) != VisionCallCount {
			errs = append(errs, fmt.Errorf("visionModelIds must have exactly %d entries, got %d", VisionCallCount, len(o.VisionModelIDs)))
		}
		for i, id := range o.VisionModelIDs {
			if strings.TrimSpace(id) == "" {
				errs = append(errs, fmt.Errorf("visionModelIds[%d] must not be empty", i))
			}
		}
		s.modelIDs = o.VisionModelIDs
	}
	return s, errors.Join(errs...)
}
