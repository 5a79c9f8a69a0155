package workflows

import (
	"fmt"
	"slices"

	"github.com/inferflow/inferflow/wire"
)

// transitions is the job state diagram; nothing else is allowed. The state
// lives in the workflow: Temporal's durable history replaces a CAS store.
var transitions = map[wire.JobState][]wire.JobState{
	wire.StateClaimed:            {wire.StateReserved, wire.StateReservationFailed},
	wire.StateReserved:           {wire.StateInferenceRunning},
	wire.StateInferenceRunning:   {wire.StateInferenceSucceeded, wire.StateReleased, wire.StateReconciliationRequired},
	wire.StateInferenceSucceeded: {wire.StateCaptured, wire.StateReconciliationRequired},
}

// InvalidTransitionError is a violated state machine invariant: a bug guard.
type InvalidTransitionError struct {
	From, To, Current wire.JobState
}

func (e *InvalidTransitionError) Error() string {
	return fmt.Sprintf("invalid transition %s → %s (current state %s)", e.From, e.To, e.Current)
}

// jobMachine is the compare-and-set state of one job.
type jobMachine struct {
	state   wire.JobState
	history []wire.JobState
}

func newJobMachine() *jobMachine {
	return &jobMachine{state: wire.StateClaimed, history: []wire.JobState{wire.StateClaimed}}
}

// transition moves from → to if the job is in from and the edge exists.
func (m *jobMachine) transition(from, to wire.JobState) error {
	if m.state != from || !slices.Contains(transitions[from], to) {
		return &InvalidTransitionError{From: from, To: to, Current: m.state}
	}
	m.state = to
	m.history = append(m.history, to)
	return nil
}
