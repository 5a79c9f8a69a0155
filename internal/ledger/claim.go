package ledger

import (
	"errors"
	"fmt"
)

// ErrJobClaimed is matched (errors.Is) by every *JobClaimedError.
var ErrJobClaimed = errors.New("ledger: job already claimed by another run")

// JobClaimedError refuses a claim: another workflow run holds the job. It is
// final for the refused run, neither a rejection nor infrastructure.
type JobClaimedError struct {
	JobID string
	RunID string // the run that holds the claim
}

func (e *JobClaimedError) Error() string {
	return fmt.Sprintf("%v: job %q is held by run %q", ErrJobClaimed, e.JobID, e.RunID)
}

func (e *JobClaimedError) Is(target error) bool { return target == ErrJobClaimed }

func validateClaim(jobID, runID string) error {
	if err := checkID("jobID", jobID); err != nil {
		return err
	}
	return checkID("runID", runID)
}

// claimOutcome turns the run that holds the claim into ClaimJob's result.
func claimOutcome(jobID, runID, holder string) error {
	if holder != runID {
		return &JobClaimedError{JobID: jobID, RunID: holder}
	}
	return nil
}
