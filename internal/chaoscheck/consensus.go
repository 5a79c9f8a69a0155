package chaoscheck

import (
	"fmt"
	"slices"
	"sort"

	"github.com/inferflow/inferflow/wire"
	"github.com/inferflow/inferflow/workflows"
)

// ConsensusOutcome is how one ConsensusEvaluation ended.
type ConsensusOutcome struct {
	ItemID string
	Quorum int // the run's quorum (workflows.DefaultQuorum when not given)
	Status Status
	// FailureCode is the run's code when it failed.
	FailureCode wire.Code
	// Valuations (by call index) and JudgeValue are the result's, when it
	// completed.
	Valuations map[int]float64
	JudgeValue float64
}

// ProviderAnswer is what the fake provider answered to one model call of a
// consensus item (one activity attempt).
type ProviderAnswer struct {
	ItemID    string
	Judge     bool // the judge call; else the vision call CallIndex
	CallIndex int
	Attempt   int
	// OK answers carry Value; the others the code the activity turns them
	// into (INVALID_OUTPUT, RATE_LIMITED, SERVER_ERROR, TIMEOUT).
	OK    bool
	Value float64
	Code  wire.Code
	// Aborted: the client went away before the answer (a timeout, a
	// cancellation, a worker that died).
	Aborted bool
	// Uncertain: the answer may have been lost on its way to the workflow
	// (a worker was killed just after it); the check accepts either way.
	Uncertain bool
}

type slotKey struct {
	judge bool
	index int
}

// CheckConsensus: each consensus outcome is what the workflow's own rule
// gives for what its provider answered. The last attempt of each call is
// what the run saw: the number of vision calls whose last answer succeeded
// gives, through workflows.QuorumOutcome, whether the run failed for
// quorum (and with which code) or went on to the judge; the judge's last
// answer gives the consensus value or, through workflows.JudgeFailureCode,
// the failure. A completed run's valuations and consensus must be values
// the provider gave for that item and call.
func CheckConsensus(outcomes []ConsensusOutcome, answers []ProviderAnswer) []Violation {
	byItem := map[string]map[slotKey][]ProviderAnswer{}
	for _, a := range answers {
		m := byItem[a.ItemID]
		if m == nil {
			m = map[slotKey][]ProviderAnswer{}
			byItem[a.ItemID] = m
		}
		k := slotKey{a.Judge, a.CallIndex}
		if a.Judge {
			k.index = 0
		}
		m[k] = append(m[k], a)
	}
	var out []Violation
	for _, o := range outcomes {
		if o.Status == Running || o.Status == "" {
			continue // CheckWorkflowsClosed reports it
		}
		out = append(out, checkItem(o, byItem[o.ItemID])...)
	}
	return out
}

func checkItem(o ConsensusOutcome, slots map[slotKey][]ProviderAnswer) []Violation {
	bad := func(format string, args ...any) []Violation {
		return []Violation{{ConsensusRule, "item " + o.ItemID, fmt.Sprintf(format, args...)}}
	}
	quorum := o.Quorum
	if quorum == 0 {
		quorum = workflows.DefaultQuorum
	}
	// Successes the run must have seen (sure) and may have seen (sure+maybe).
	sure, maybe := 0, 0
	for i := range workflows.VisionCallCount {
		last, ok := lastAnswer(slots[slotKey{false, i}])
		switch {
		case !ok || !last.OK || last.Aborted:
		case last.Uncertain:
			maybe++
		default:
			sure++
		}
	}
	expected := map[wire.Code]bool{}
	for n := sure; n <= sure+maybe; n++ {
		expected[workflows.QuorumOutcome(n, quorum)] = true
	}
	judge, judged := lastAnswer(slots[slotKey{true, 0}])
	if !judged && expected[""] && (o.Status == Completed || isJudgeCode(o.FailureCode)) {
		return bad("the run reached the judge (%s) but the provider got no judge call", describe(o))
	}

	switch o.Status {
	case Completed:
		if !expected[""] {
			return bad("completed, but only %d..%d of %d vision calls succeeded at the provider (quorum %d): the rule says %s",
				sure, sure+maybe, workflows.VisionCallCount, quorum, codes(expected))
		}
		if !judge.OK || judge.Aborted {
			if !judge.Uncertain {
				return bad("completed with consensus %v, but the judge's last answer was %s", o.JudgeValue, answerText(judge))
			}
		}
		if !gave(slots[slotKey{true, 0}], o.JudgeValue) {
			return bad("consensus %v is no value the judge gave for this item", o.JudgeValue)
		}
		if len(o.Valuations) < quorum {
			return bad("completed with %d valuations, quorum %d", len(o.Valuations), quorum)
		}
		for _, i := range sortedInts(o.Valuations) {
			if !gave(slots[slotKey{false, i}], o.Valuations[i]) {
				return bad("valuation %v of call %d is no value the provider gave that call", o.Valuations[i], i)
			}
		}
		return nil
	case Failed:
		switch c := o.FailureCode; {
		case c == wire.CodeVisionAllFailed || c == wire.CodeQuorumNotMet:
			if !expected[c] {
				return bad("failed %s, but %d..%d of %d vision calls succeeded at the provider (quorum %d): the rule says %s",
					c, sure, sure+maybe, workflows.VisionCallCount, quorum, codes(expected))
			}
			return nil
		case isJudgeCode(c):
			if !expected[""] {
				return bad("failed %s at the judge, but the rule says %s for the vision answers", c, codes(expected))
			}
			if judge.Uncertain {
				return nil
			}
			var want wire.Code
			switch {
			case judge.OK && !judge.Aborted:
				return bad("failed %s, but the judge's last answer was %s", c, answerText(judge))
			case judge.Aborted:
				want = workflows.JudgeFailureCode(wire.CodeTimeout)
			default:
				want = workflows.JudgeFailureCode(judge.Code)
			}
			if want != c {
				return bad("failed %s, but for the judge's last answer (%s) the rule says %s", c, answerText(judge), want)
			}
			return nil
		}
		return bad("failed with %s, which no provider answer leads to (the rule says %s)", orNone(o.FailureCode), codes(expected))
	}
	return bad("ended %s (%s), which no provider answer leads to", o.Status, orNone(o.FailureCode))
}

func isJudgeCode(c wire.Code) bool {
	return c == wire.CodeJudgeFailed || c == wire.CodeJudgeInvalidOutput || c == wire.CodeJudgeInvalidInput
}

// lastAnswer is the highest attempt's answer.
func lastAnswer(as []ProviderAnswer) (ProviderAnswer, bool) {
	if len(as) == 0 {
		return ProviderAnswer{}, false
	}
	last := as[0]
	for _, a := range as[1:] {
		if a.Attempt >= last.Attempt {
			last = a
		}
	}
	return last, true
}

// gave reports whether some OK answer carried v.
func gave(as []ProviderAnswer, v float64) bool {
	return slices.ContainsFunc(as, func(a ProviderAnswer) bool { return a.OK && a.Value == v })
}

func answerText(a ProviderAnswer) string {
	switch {
	case a.Aborted:
		return "abandoned by its client"
	case a.OK:
		return fmt.Sprintf("OK %v", a.Value)
	}
	return string(a.Code)
}

func describe(o ConsensusOutcome) string {
	if o.Status == Failed {
		return string(o.FailureCode)
	}
	return string(o.Status)
}

func codes(set map[wire.Code]bool) string {
	var s []string
	for c := range set {
		s = append(s, string(orNone(c)))
	}
	sort.Strings(s)
	return fmt.Sprint(s)
}

func orNone(c wire.Code) wire.Code {
	if c == "" {
		return "success"
	}
	return c
}

func sortedInts[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}
