package workflows

import "fmt"

// JobState is the billed job's state (the seed's job state machine). It lives
// in the workflow: Temporal's durable history replaces the seed's CAS store.
type JobState string

const (
	StateClaimed                JobState = "CLAIMED"
	StateReserved               JobState = "RESERVED"
	StateReservationFailed      JobState = "RESERVATION_FAILED"
	StateInferenceRunning       JobState = "INFERENCE_RUNNING"
	StateInferenceSucceeded     JobState = "INFERENCE_SUCCEEDED"
	StateCaptured               JobState = "CAPTURED"
	StateReleased               JobState = "RELEASED"
	StateReconciliationRequired JobState = "RECONCILIATION_REQUIRED"
)

// transitions is the seed's diagram; nothing else is allowed.
var transitions = map[JobState][]JobState{
	StateClaimed:            {StateReserved, StateReservationFailed},
	StateReserved:           {StateInferenceRunning},
	StateInferenceRunning:   {StateInferenceSucceeded, StateReleased, StateReconciliationRequired},
	StateInferenceSucceeded: {StateCaptured, StateReconciliationRequired},
}

// ErrInvalidTransition is a violated state machine invariant: a bug guard.
type ErrInvalidTransition struct {
	From, To, Current JobState
}

func (e *ErrInvalidTransition) Error() string {
	return fmt.Sprintf("invalid transition %s → %s (current state %s)", e.From, e.To, e.Current)
}

// jobMachine is the compare-and-set state of one job.
type jobMachine struct {
	state   JobState
	history []JobState
}

func newJobMachine() *jobMachine {
	return &jobMachine{state: StateClaimed, history: []JobState{StateClaimed}}
}

// transition moves from → to if the job is in from and the edge exists.
func (m *jobMachine) transition(from, to JobState) error {
	if m.state != from || !allowed(from, to) {
		return &ErrInvalidTransition{From: from, To: to, Current: m.state}
	}
	m.state = to
	m.history = append(m.history, to)
	return nil
}

func allowed(from, to JobState) bool {
	for _, t := range transitions[from] {
		if t == to {
			return true
		}
	}
	return false
}
