// Package chaoscheck holds the invariants the chaos suite (internal/chaosrun,
// cmd/chaos) checks after a run has drained: pure functions over data
// collected from Temporal (how each started workflow ended), from the fault
// plan of the fake model provider (what it answered to each call) and from
// the ledger (a ledger.Snapshot). Each check returns the Violations it finds;
// none means the invariant held.
//
// The consensus rule is not written again here: the check asks the
// workflow's own rule (workflows.QuorumOutcome, workflows.JudgeFailureCode)
// what a run must have done with what its provider answered.
package chaoscheck

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/wire"
)

// Invariant names one of the suite's invariants.
type Invariant string

const (
	WorkflowsClosed  Invariant = "workflows-closed"
	ConsensusRule    Invariant = "consensus-rule"
	HoldsResolved    Invariant = "holds-resolved"
	IdempotencyOnce  Invariant = "idempotency-once"
	JournalBalanced  Invariant = "journal-balanced"
	CreditsConserved Invariant = "credits-conserved"
	JobChargedOnce   Invariant = "job-charged-once"
	VoiceClean       Invariant = "voice-clean"
)

// Invariants lists them in the order Check runs them.
var Invariants = []Invariant{WorkflowsClosed, ConsensusRule, HoldsResolved, IdempotencyOnce,
	JournalBalanced, CreditsConserved, JobChargedOnce, VoiceClean}

// Violation is one broken invariant: which, about what (a workflow id, a
// job, a hold, a user, a key), and what was seen.
type Violation struct {
	Invariant Invariant
	Subject   string
	Detail    string
}

func (v Violation) String() string { return string(v.Invariant) + ": " + v.Subject + ": " + v.Detail }

// Status is how a workflow run stands, as Temporal reports it.
type Status string

const (
	Running        Status = "Running"
	Completed      Status = "Completed"
	Failed         Status = "Failed"
	Canceled       Status = "Canceled"
	Terminated     Status = "Terminated"
	TimedOut       Status = "TimedOut"
	ContinuedAsNew Status = "ContinuedAsNew"
)

// Workflow is one workflow run: its type, status and, when it failed with
// an application error, that error's type (the wire.Code).
type Workflow struct {
	ID, RunID, Type string
	Status          Status
	FailureCode     wire.Code
}

// Data is everything a run collected for the checks.
type Data struct {
	// Workflows are the runs of every workflow the run started, and of the
	// workflows those started (reconciliations, voice sessions).
	Workflows []Workflow
	// Consensus and Answers feed ConsensusRule.
	Consensus []ConsensusOutcome
	Answers   []ProviderAnswer
	// Ledger is the ledger after the drain; Credited what the run credited
	// to each user (nil: taken from the journal's credit transactions).
	Ledger   ledger.Snapshot
	Credited map[string]int64
	// Voice are the voice sessions the run made, VoiceUsers the users they
	// bill: those users' holds are checked by CheckVoice, not CheckHolds.
	Voice      []VoiceSession
	VoiceUsers map[string]bool
	// Realtime is the realtime process's goroutines and gates, at its
	// start and after the calls (nil without voice).
	Realtime *RealtimeIdle
}

// Check runs every invariant over d.
func Check(d Data) []Violation {
	var out []Violation
	out = append(out, CheckWorkflowsClosed(d.Workflows)...)
	out = append(out, CheckConsensus(d.Consensus, d.Answers)...)
	out = append(out, CheckHolds(d.Ledger, d.Workflows, d.VoiceUsers)...)
	out = append(out, CheckIdempotency(d.Ledger)...)
	out = append(out, CheckJournal(d.Ledger)...)
	out = append(out, CheckConservation(d.Ledger, d.Credited)...)
	out = append(out, CheckChargedOnce(d.Ledger, d.Workflows)...)
	out = append(out, CheckVoice(d.Voice, d.Ledger, d.VoiceUsers)...)
	out = append(out, CheckRealtimeIdle(d.Realtime)...)
	return out
}

// CheckWorkflowsClosed: every started workflow closed (a run still running
// after the drain is lost work or a stuck saga).
func CheckWorkflowsClosed(ws []Workflow) []Violation {
	var out []Violation
	for _, w := range ws {
		if w.Status == Running || w.Status == "" {
			out = append(out, Violation{WorkflowsClosed, w.ID, fmt.Sprintf("%s run %s is still %s", w.Type, w.RunID, orUnknown(w.Status))})
		}
	}
	return out
}

func orUnknown(s Status) Status {
	if s == "" {
		return "in no known state"
	}
	return s
}

// Idempotency key prefixes of the saga's ledger steps (activities/billing.go:
// res_<jobId>, cap_<jobId>, rel_<jobId>).
var keyPrefixes = []string{"res_", "cap_", "rel_"}

// JobOfKey is the job a saga idempotency key belongs to ("" if it is none
// of the saga's).
func JobOfKey(key string) string {
	for _, p := range keyPrefixes {
		if j, ok := strings.CutPrefix(key, p); ok {
			return j
		}
	}
	return ""
}

// holdJobs maps each reservation to the job whose reserve made it.
func holdJobs(s ledger.Snapshot) map[string]string {
	m := map[string]string{}
	for _, tx := range s.Transactions {
		if tx.Kind == "reserve" && tx.ReservationID != "" {
			if j, ok := strings.CutPrefix(tx.IdempotencyKey, "res_"); ok {
				m[tx.ReservationID] = j
			}
		}
	}
	return m
}

// CheckHolds: every hold is captured, released or expired; an active one
// is allowed only while its job's reconciliation is still open (and
// CheckWorkflowsClosed reports that reconciliation if it never closes).
// Holds of skip's users (voice users) are CheckVoice's.
func CheckHolds(s ledger.Snapshot, ws []Workflow, skip map[string]bool) []Violation {
	openReconcile := map[string]bool{}
	for _, w := range ws {
		if w.Type == wire.WorkflowReconcile && w.Status == Running {
			openReconcile[w.ID] = true
		}
	}
	jobs := holdJobs(s)
	var out []Violation
	for _, r := range s.Reservations {
		if skip[r.UserID] {
			continue
		}
		switch r.Status {
		case ledger.HoldCaptured, ledger.HoldReleased, ledger.HoldExpired:
			continue
		case ledger.HoldActive:
			job := jobs[r.ID]
			if job != "" && openReconcile[wire.ReconcileWorkflowID(job)] {
				continue
			}
			out = append(out, Violation{HoldsResolved, r.ID, fmt.Sprintf("hold of %d for job %q (user %s) is still active, expires %s, and no reconciliation is open",
				r.Amount, job, r.UserID, r.ExpiresAt.Format("15:04:05"))})
		default:
			out = append(out, Violation{HoldsResolved, r.ID, fmt.Sprintf("hold in unknown status %q", r.Status)})
		}
	}
	return out
}

// CheckIdempotency: no idempotency key had two effects (two journal
// transactions), and every recorded key had its one effect.
func CheckIdempotency(s ledger.Snapshot) []Violation {
	effects := map[string]int{}
	for _, tx := range s.Transactions {
		if tx.IdempotencyKey != "" {
			effects[tx.IdempotencyKey]++
		}
	}
	var out []Violation
	for _, k := range slices.Sorted(maps.Keys(effects)) {
		if n := effects[k]; n > 1 {
			out = append(out, Violation{IdempotencyOnce, k, fmt.Sprintf("key has %d journal transactions", n)})
		}
	}
	for _, k := range s.IdempotencyKeys {
		if effects[k.Key] == 0 {
			out = append(out, Violation{IdempotencyOnce, k.Key, fmt.Sprintf("%s key recorded without its journal transaction", k.Op)})
		}
	}
	return out
}

// CheckJournal: every journal transaction has entries and sums to zero.
func CheckJournal(s ledger.Snapshot) []Violation {
	var out []Violation
	for _, tx := range s.Transactions {
		var sum int64
		for _, e := range tx.Entries {
			sum += e.Amount
		}
		subject := fmt.Sprintf("tx %d (%s %s)", tx.ID, tx.Kind, tx.IdempotencyKey)
		switch {
		case len(tx.Entries) == 0:
			out = append(out, Violation{JournalBalanced, subject, "transaction has no entries"})
		case sum != 0:
			out = append(out, Violation{JournalBalanced, subject, fmt.Sprintf("entries sum to %d", sum)})
		}
	}
	return out
}

// CheckConservation: for each user, what was credited equals available +
// open holds + spent; the held balance is the sum of the active holds, the
// spent balance the sum of captures; and all balances (funding included)
// sum to zero.
func CheckConservation(s ledger.Snapshot, credited map[string]int64) []Violation {
	type pos struct{ available, held, spent, openHolds, captured, journalCredit int64 }
	users := map[string]*pos{}
	get := func(u string) *pos {
		if users[u] == nil {
			users[u] = &pos{}
		}
		return users[u]
	}
	var total int64
	for _, a := range s.Accounts {
		total += a.Balance
		if a.UserID == "" {
			continue
		}
		p := get(a.UserID)
		switch a.Kind {
		case "available":
			p.available = a.Balance
		case "held":
			p.held = a.Balance
		case "spent":
			p.spent = a.Balance
		}
	}
	for _, r := range s.Reservations {
		p := get(r.UserID)
		if r.Status == ledger.HoldActive {
			p.openHolds += r.Amount
		}
		p.captured += r.Captured
	}
	for _, tx := range s.Transactions {
		if tx.Kind != "credit" {
			continue
		}
		for _, e := range tx.Entries {
			if u, ok := availableUser(e.Account); ok {
				get(u).journalCredit += e.Amount
			}
		}
	}
	for u := range credited {
		get(u)
	}
	var out []Violation
	if total != 0 {
		out = append(out, Violation{CreditsConserved, "all accounts", fmt.Sprintf("balances sum to %d, not 0", total)})
	}
	for _, u := range slices.Sorted(maps.Keys(users)) {
		p := users[u]
		in := p.journalCredit
		if credited != nil {
			in = credited[u]
			if in != p.journalCredit {
				out = append(out, Violation{CreditsConserved, "user " + u, fmt.Sprintf("credited %d but the journal holds %d of credits", in, p.journalCredit)})
			}
		}
		if got := p.available + p.openHolds + p.spent; got != in {
			out = append(out, Violation{CreditsConserved, "user " + u, fmt.Sprintf("credited %d != available %d + open holds %d + spent %d = %d",
				in, p.available, p.openHolds, p.spent, got)})
		}
		if p.held != p.openHolds {
			out = append(out, Violation{CreditsConserved, "user " + u, fmt.Sprintf("held balance %d != open holds %d", p.held, p.openHolds)})
		}
		if p.spent != p.captured {
			out = append(out, Violation{CreditsConserved, "user " + u, fmt.Sprintf("spent balance %d != captured %d", p.spent, p.captured)})
		}
	}
	return out
}

func availableUser(account string) (string, bool) {
	rest, ok := strings.CutPrefix(account, "user:")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, ":available")
}

// CheckChargedOnce: no job was charged twice: one reservation per job, at
// most one capture per reservation, at most one successful InferenceJob
// run per job, and that run is the one holding the job's claim.
func CheckChargedOnce(s ledger.Snapshot, ws []Workflow) []Violation {
	var out []Violation
	jobs := holdJobs(s)
	holdsPerJob := map[string][]string{}
	for _, r := range s.Reservations {
		if j := jobs[r.ID]; j != "" {
			holdsPerJob[j] = append(holdsPerJob[j], r.ID)
		}
	}
	for _, j := range slices.Sorted(maps.Keys(holdsPerJob)) {
		if hs := holdsPerJob[j]; len(hs) > 1 {
			out = append(out, Violation{JobChargedOnce, "job " + j, fmt.Sprintf("%d reservations: %s", len(hs), strings.Join(hs, ", "))})
		}
	}
	captures := map[string]int{}
	for _, tx := range s.Transactions {
		if tx.Kind == "capture" {
			captures[tx.ReservationID]++
		}
	}
	for _, r := range slices.Sorted(maps.Keys(captures)) {
		if n := captures[r]; n > 1 {
			out = append(out, Violation{JobChargedOnce, "hold " + r, fmt.Sprintf("captured %d times (job %q)", n, jobs[r])})
		}
	}
	claims := map[string]string{}
	for _, c := range s.Claims {
		claims[c.JobID] = c.RunID
	}
	succeeded := map[string][]Workflow{}
	for _, w := range ws {
		if w.Type != wire.WorkflowInferenceJob || w.Status != Completed {
			continue
		}
		job, ok := strings.CutPrefix(w.ID, "inference-")
		if !ok {
			continue
		}
		succeeded[job] = append(succeeded[job], w)
	}
	for _, j := range slices.Sorted(maps.Keys(succeeded)) {
		runs := succeeded[j]
		if len(runs) > 1 {
			out = append(out, Violation{JobChargedOnce, "job " + j, fmt.Sprintf("%d runs completed", len(runs))})
		}
		if claim, ok := claims[j]; !ok || claim != runs[0].RunID {
			out = append(out, Violation{JobChargedOnce, "job " + j, fmt.Sprintf("run %s completed but the claim names %q", runs[0].RunID, claim)})
		}
	}
	return out
}

// VoiceSession is one simulated voice call's VoiceSession workflow.
type VoiceSession struct {
	ID     string // the workflow id
	Status Status
	State  string // its VoiceState search attribute (ORPHANED, CLOSED, ...), when set
}

// CheckVoice: no voice session left an open workflow, and no voice user
// is left with an active hold.
func CheckVoice(vs []VoiceSession, s ledger.Snapshot, users map[string]bool) []Violation {
	var out []Violation
	for _, v := range vs {
		if v.Status == Running || v.Status == "" {
			out = append(out, Violation{VoiceClean, v.ID, fmt.Sprintf("voice session workflow is still %s", orUnknown(v.Status))})
		}
	}
	for _, r := range s.Reservations {
		if users[r.UserID] && r.Status == ledger.HoldActive {
			out = append(out, Violation{VoiceClean, r.ID, fmt.Sprintf("voice user %s has an active hold of %d, expires %s",
				r.UserID, r.Amount, r.ExpiresAt.Format("15:04:05"))})
		}
	}
	return out
}

// RealtimeIdle is the realtime process at rest: when it had started (its
// last start, before any call reached it) and after the run's calls had
// ended, Calls calls later. Goroutines are its go_goroutines; LiveGates its
// inferflow_speech_gate_live_gates, one per call still held. (A process
// killed with its calls took their goroutines with it: only the last one
// can show a leak.)
type RealtimeIdle struct {
	Calls                          int
	StartGoroutines, EndGoroutines int
	LiveGates                      int
}

// GoroutineSlack is how many more goroutines than at its start an idle
// realtime process may run: idle HTTP keep-alive connections and the
// Temporal client's connection come and go. A call that leaks leaves far
// more (a peer connection alone runs a dozen or more); seen at rest: the
// same count as at its start.
const GoroutineSlack = 4

// CheckRealtimeIdle: no voice call left a gate or goroutines behind in
// the realtime process (nil: no voice in the run).
func CheckRealtimeIdle(r *RealtimeIdle) []Violation {
	if r == nil {
		return nil
	}
	var out []Violation
	if r.LiveGates != 0 {
		out = append(out, Violation{VoiceClean, "realtime", fmt.Sprintf("%d speech gates still live after every call ended", r.LiveGates)})
	}
	if extra := r.EndGoroutines - r.StartGoroutines; extra > GoroutineSlack {
		out = append(out, Violation{VoiceClean, "realtime", fmt.Sprintf("%d goroutines after every call ended, %d more than at its start (%d); a call left goroutines behind",
			r.EndGoroutines, extra, r.StartGoroutines)})
	}
	return out
}
