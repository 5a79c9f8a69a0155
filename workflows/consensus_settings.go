package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/inferflow/inferflow/wire"
)

// Consensus defaults and bounds of wire.ConsensusOptions.
const (
	VisionCallCount      = 3
	DefaultQuorum        = 2
	DefaultVisionTimeout = 30 * time.Second
	DefaultJudgeTimeout  = 20 * time.Second
	MinCallTimeout       = time.Second
	MaxCallTimeout       = 120 * time.Second
	MaxVisionRetries     = 1 // total attempts = retries + 1
	MaxJudgeRetries      = 1
)

// consensusSettings are the options after defaults and validation.
type consensusSettings struct {
	quorum        int
	visionTimeout time.Duration
	judgeTimeout  time.Duration
	earlyCancel   bool
	modelIDs      []string // nil or VisionCallCount entries
}

// consensusSettingsOf validates the input and applies defaults; it is pure, so it runs
// in the workflow before any activity. Every invalid field is reported, by
// its JSON path; fields whose JSON had the wrong type are reported alone
// (their zero values would only add noise).
func consensusSettingsOf(in wire.ConsensusInput) (consensusSettings, wire.FieldErrors) {
	s := consensusSettings{quorum: DefaultQuorum, visionTimeout: DefaultVisionTimeout, judgeTimeout: DefaultJudgeTimeout}
	if bad := in.Undecodable(); len(bad) > 0 {
		return s, bad
	}
	var errs wire.FieldErrors
	invalid := func(field, format string, args ...any) {
		errs = append(errs, wire.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if reason := wire.IDProblem(in.ItemID); reason != "" {
		invalid("itemId", "%s", reason)
	}
	var imageErr *wire.FieldError
	if errors.As(in.Image.Check(), &imageErr) {
		errs = append(errs, *imageErr)
	}
	o := in.Options
	if o == nil {
		return s, errs
	}
	if o.Quorum != nil {
		if *o.Quorum < 1 || *o.Quorum > VisionCallCount {
			invalid("options.quorum", "%d must be 1..%d", *o.Quorum, VisionCallCount)
		}
		s.quorum = *o.Quorum
	}
	timeout := func(name string, v *int, dst *time.Duration) {
		if v == nil {
			return
		}
		// Compared in milliseconds: a huge value times time.Millisecond
		// would overflow time.Duration and could wrap into range.
		if *v < int(MinCallTimeout.Milliseconds()) || *v > int(MaxCallTimeout.Milliseconds()) {
			invalid("options."+name, "%d must be %d..%d", *v, MinCallTimeout.Milliseconds(), MaxCallTimeout.Milliseconds())
			return
		}
		*dst = time.Duration(*v) * time.Millisecond
	}
	timeout("visionTimeoutMs", o.VisionTimeoutMs, &s.visionTimeout)
	timeout("judgeTimeoutMs", o.JudgeTimeoutMs, &s.judgeTimeout)
	s.earlyCancel = o.EarlyCancel
	if o.VisionModelIDs != nil {
		if len(o.VisionModelIDs) != VisionCallCount {
			invalid("options.visionModelIds", "must have exactly %d entries, got %d", VisionCallCount, len(o.VisionModelIDs))
		}
		for i, id := range o.VisionModelIDs {
			if strings.TrimSpace(id) == "" {
				invalid(fmt.Sprintf("options.visionModelIds[%d]", i), "must not be empty")
			}
		}
		s.modelIDs = o.VisionModelIDs
	}
	return s, errs
}

func (s consensusSettings) modelID(i int) string {
	if s.modelIDs == nil {
		return ""
	}
	return s.modelIDs[i]
}
