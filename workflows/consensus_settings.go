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
// in the workflow before any activity.
func consensusSettingsOf(in wire.ConsensusInput) (consensusSettings, error) {
	s := consensusSettings{quorum: DefaultQuorum, visionTimeout: DefaultVisionTimeout, judgeTimeout: DefaultJudgeTimeout}
	if err := wire.ValidateID("itemId", in.ItemID); err != nil {
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

func (s consensusSettings) modelID(i int) string {
	if s.modelIDs == nil {
		return ""
	}
	return s.modelIDs[i]
}
