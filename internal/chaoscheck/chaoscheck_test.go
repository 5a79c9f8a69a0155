package chaoscheck

import (
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/wire"
)

// good is a ledger after a clean run: u1 credited 1000, job j1 reserved 300
// and captured 120 (180 returned), job j2 reserved 200 and released it.
func good() ledger.Snapshot {
	return ledger.Snapshot{
		Accounts: []ledger.SnapshotAccount{
			{Name: "funding", Kind: "funding", Balance: -1000},
			{Name: "user:u1:available", UserID: "u1", Kind: "available", Balance: 880},
			{Name: "user:u1:held", UserID: "u1", Kind: "held", Balance: 0},
			{Name: "user:u1:spent", UserID: "u1", Kind: "spent", Balance: 120},
		},
		Transactions: []ledger.SnapshotTx{
			{ID: 1, Kind: "credit", IdempotencyKey: "fund-u1", Entries: []ledger.SnapshotEntry{e("funding", -1000), e("user:u1:available", 1000)}},
			{ID: 2, Kind: "reserve", ReservationID: "r1", IdempotencyKey: "res_j1", Entries: []ledger.SnapshotEntry{e("user:u1:available", -300), e("user:u1:held", 300)}},
			{ID: 3, Kind: "capture", ReservationID: "r1", IdempotencyKey: "cap_j1", Entries: []ledger.SnapshotEntry{e("user:u1:available", 180), e("user:u1:held", -300), e("user:u1:spent", 120)}},
			{ID: 4, Kind: "reserve", ReservationID: "r2", IdempotencyKey: "res_j2", Entries: []ledger.SnapshotEntry{e("user:u1:available", -200), e("user:u1:held", 200)}},
			{ID: 5, Kind: "release", ReservationID: "r2", IdempotencyKey: "rel_j2", Entries: []ledger.SnapshotEntry{e("user:u1:available", 200), e("user:u1:held", -200)}},
		},
		Reservations: []ledger.Reservation{
			{ID: "r1", UserID: "u1", Amount: 300, Status: ledger.HoldCaptured, Captured: 120, Returned: 180},
			{ID: "r2", UserID: "u1", Amount: 200, Status: ledger.HoldReleased, Returned: 200},
		},
		IdempotencyKeys: []ledger.SnapshotKey{key("cap_j1", "capture"), key("fund-u1", "credit"), key("rel_j2", "release"), key("res_j1", "reserve"), key("res_j2", "reserve")},
		Claims:          []ledger.JobClaim{{JobID: "j1", RunID: "run-j1"}, {JobID: "j2", RunID: "run-j2"}},
	}
}

func e(account string, amount int64) ledger.SnapshotEntry {
	return ledger.SnapshotEntry{Account: account, Amount: amount}
}

func key(k, op string) ledger.SnapshotKey { return ledger.SnapshotKey{Key: k, Op: op} }

func goodWorkflows() []Workflow {
	return []Workflow{
		{ID: "inference-j1", RunID: "run-j1", Type: wire.WorkflowInferenceJob, Status: Completed},
		{ID: "inference-j2", RunID: "run-j2", Type: wire.WorkflowInferenceJob, Status: Failed, FailureCode: wire.CodeModelServerError},
		{ID: "inference-j1", RunID: "run-j1-dup", Type: wire.WorkflowInferenceJob, Status: Failed, FailureCode: wire.CodeDuplicateJob},
	}
}

// activeHold turns j2's release into a hold still active.
func activeHold(s *ledger.Snapshot) {
	s.Transactions = s.Transactions[:4]
	s.IdempotencyKeys = []ledger.SnapshotKey{key("cap_j1", "capture"), key("fund-u1", "credit"), key("res_j1", "reserve"), key("res_j2", "reserve")}
	s.Reservations[1] = ledger.Reservation{ID: "r2", UserID: "u1", Amount: 200, Status: ledger.HoldActive, ExpiresAt: time.Unix(0, 0)}
	s.Accounts[1].Balance, s.Accounts[2].Balance = 680, 200
}

func TestLedgerInvariants(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*ledger.Snapshot, *[]Workflow)
		credits map[string]int64
		want    []Invariant // the invariants that must report, in any number
	}{
		{name: "clean run", mutate: func(*ledger.Snapshot, *[]Workflow) {}, credits: map[string]int64{"u1": 1000}},
		{name: "hold left active", mutate: func(s *ledger.Snapshot, _ *[]Workflow) { activeHold(s) }, want: []Invariant{HoldsResolved}},
		{name: "active hold with its reconciliation open", mutate: func(s *ledger.Snapshot, ws *[]Workflow) {
			activeHold(s)
			*ws = append(*ws, Workflow{ID: wire.ReconcileWorkflowID("j2"), RunID: "rec", Type: wire.WorkflowReconcile, Status: Running})
		}, want: []Invariant{WorkflowsClosed}},
		{name: "workflow still running", mutate: func(_ *ledger.Snapshot, ws *[]Workflow) {
			(*ws)[1].Status = Running
		}, want: []Invariant{WorkflowsClosed}},
		{name: "key with two effects", mutate: func(s *ledger.Snapshot, _ *[]Workflow) {
			s.Transactions[4].IdempotencyKey = "res_j2"
		}, want: []Invariant{IdempotencyOnce}},
		{name: "key recorded without effect", mutate: func(s *ledger.Snapshot, _ *[]Workflow) {
			s.IdempotencyKeys = append(s.IdempotencyKeys, ledger.SnapshotKey{Key: "cap_j9", Op: "capture"})
		}, want: []Invariant{IdempotencyOnce}},
		{name: "unbalanced transaction", mutate: func(s *ledger.Snapshot, _ *[]Workflow) {
			s.Transactions[2].Entries[2].Amount = 121
		}, want: []Invariant{JournalBalanced}},
		{name: "transaction without entries", mutate: func(s *ledger.Snapshot, _ *[]Workflow) {
			s.Transactions[4].Entries = nil
		}, want: []Invariant{JournalBalanced}},
		{name: "credits created from nothing", mutate: func(s *ledger.Snapshot, _ *[]Workflow) {
			s.Accounts[1].Balance += 50
		}, want: []Invariant{CreditsConserved}},
		{name: "credited less than the run gave", mutate: func(*ledger.Snapshot, *[]Workflow) {}, credits: map[string]int64{"u1": 1500},
			want: []Invariant{CreditsConserved}},
		{name: "held balance without a hold", mutate: func(s *ledger.Snapshot, _ *[]Workflow) {
			s.Accounts[1].Balance, s.Accounts[2].Balance = 780, 100
		}, want: []Invariant{CreditsConserved}},
		{name: "hold captured twice", mutate: func(s *ledger.Snapshot, _ *[]Workflow) {
			dup := s.Transactions[2]
			dup.ID, dup.IdempotencyKey = 6, "cap_j1_again"
			s.Transactions = append(s.Transactions, dup)
			s.IdempotencyKeys = append(s.IdempotencyKeys, ledger.SnapshotKey{Key: "cap_j1_again", Op: "capture"})
		}, want: []Invariant{JobChargedOnce}},
		{name: "job reserved twice", mutate: func(s *ledger.Snapshot, _ *[]Workflow) {
			s.Reservations = append(s.Reservations, ledger.Reservation{ID: "r3", UserID: "u1", Amount: 0, Status: ledger.HoldReleased})
			s.Transactions = append(s.Transactions, ledger.SnapshotTx{ID: 6, Kind: "reserve", ReservationID: "r3", IdempotencyKey: "res_j1",
				Entries: []ledger.SnapshotEntry{e("user:u1:available", 0), e("user:u1:held", 0)}})
		}, want: []Invariant{JobChargedOnce, IdempotencyOnce}},
		{name: "job completed by two runs", mutate: func(_ *ledger.Snapshot, ws *[]Workflow) {
			(*ws)[2].Status, (*ws)[2].FailureCode = Completed, ""
		}, want: []Invariant{JobChargedOnce}},
		{name: "completed run is not the claim holder", mutate: func(s *ledger.Snapshot, _ *[]Workflow) {
			s.Claims[0].RunID = "someone-else"
		}, want: []Invariant{JobChargedOnce}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, ws := good(), goodWorkflows()
			tc.mutate(&s, &ws)
			got := Check(Data{Workflows: ws, Ledger: s, Credited: tc.credits})
			assertInvariants(t, got, tc.want)
		})
	}
}

// assertInvariants fails unless the violations are of exactly the wanted
// invariants (each at least once).
func assertInvariants(t *testing.T, got []Violation, want []Invariant) {
	t.Helper()
	seen := map[Invariant]bool{}
	for _, v := range got {
		seen[v.Invariant] = true
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("no %s violation; got %v", w, got)
		}
		delete(seen, w)
	}
	for inv := range seen {
		t.Errorf("unexpected %s violation; got %v", inv, got)
	}
}

func TestVoiceInvariant(t *testing.T) {
	s := good()
	activeHold(&s)
	voice := map[string]bool{"u1": true}
	cases := []struct {
		name  string
		vs    []VoiceSession
		snap  ledger.Snapshot
		users map[string]bool
		want  []Invariant
	}{
		{"closed sessions", []VoiceSession{{ID: "voice-1", Status: Completed}}, good(), voice, nil},
		{"session still open", []VoiceSession{{ID: "voice-1", Status: Running}}, good(), voice, []Invariant{VoiceClean}},
		{"voice user left a hold", []VoiceSession{{ID: "voice-1", Status: Completed}}, s, voice, []Invariant{VoiceClean}},
		{"another user's hold is not voice's", []VoiceSession{{ID: "voice-1", Status: Completed}}, s, map[string]bool{"u9": true}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { assertInvariants(t, CheckVoice(tc.vs, tc.snap, tc.users), tc.want) })
	}
	// A voice user's active hold is CheckVoice's, not CheckHolds'.
	if got := CheckHolds(s, nil, voice); len(got) != 0 {
		t.Errorf("CheckHolds reported a voice user's hold: %v", got)
	}
}

func TestRealtimeIdle(t *testing.T) {
	cases := []struct {
		name string
		r    *RealtimeIdle
		want []Invariant
	}{
		{"no voice", nil, nil},
		{"back to its start", &RealtimeIdle{StartGoroutines: 40, EndGoroutines: 40}, nil},
		{"fewer than at start", &RealtimeIdle{StartGoroutines: 40, EndGoroutines: 31}, nil},
		{"within the slack", &RealtimeIdle{StartGoroutines: 40, EndGoroutines: 40 + GoroutineSlack}, nil},
		{"a call's goroutines left", &RealtimeIdle{StartGoroutines: 40, EndGoroutines: 41 + GoroutineSlack}, []Invariant{VoiceClean}},
		{"a gate left live", &RealtimeIdle{StartGoroutines: 40, EndGoroutines: 40, LiveGates: 1}, []Invariant{VoiceClean}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assertInvariants(t, CheckRealtimeIdle(tc.r), tc.want)
			// Check runs it too.
			assertInvariants(t, Check(Data{Ledger: good(), Realtime: tc.r}), tc.want)
		})
	}
}

func vision(item string, slot, attempt int, value float64) ProviderAnswer {
	return ProviderAnswer{ItemID: item, CallIndex: slot, Attempt: attempt, OK: true, Value: value}
}

func visionFail(item string, slot, attempt int, code wire.Code) ProviderAnswer {
	return ProviderAnswer{ItemID: item, CallIndex: slot, Attempt: attempt, Code: code}
}

func judge(item string, attempt int, value float64) ProviderAnswer {
	return ProviderAnswer{ItemID: item, Judge: true, Attempt: attempt, OK: true, Value: value}
}

func judgeFail(item string, attempt int, code wire.Code) ProviderAnswer {
	return ProviderAnswer{ItemID: item, Judge: true, Attempt: attempt, Code: code}
}

func TestConsensusRule(t *testing.T) {
	allOK := []ProviderAnswer{vision("a", 0, 0, 10), vision("a", 1, 0, 20), vision("a", 2, 0, 30), judge("a", 0, 20)}
	completed := ConsensusOutcome{ItemID: "a", Status: Completed, Valuations: map[int]float64{0: 10, 1: 20, 2: 30}, JudgeValue: 20}
	failed := func(c wire.Code) ConsensusOutcome {
		return ConsensusOutcome{ItemID: "a", Status: Failed, FailureCode: c}
	}
	twoFail := []ProviderAnswer{vision("a", 0, 0, 10), visionFail("a", 1, 0, wire.CodeServerError), visionFail("a", 1, 1, wire.CodeRateLimited),
		visionFail("a", 2, 0, wire.CodeInvalidOutput)}
	cases := []struct {
		name    string
		outcome ConsensusOutcome
		answers []ProviderAnswer
		bad     bool
	}{
		{"all answered, completed", completed, allOK, false},
		{"retried to success", ConsensusOutcome{ItemID: "a", Status: Completed, Valuations: map[int]float64{0: 10, 1: 21}, JudgeValue: 20},
			[]ProviderAnswer{vision("a", 0, 0, 10), visionFail("a", 1, 0, wire.CodeRateLimited), vision("a", 1, 1, 21),
				visionFail("a", 2, 0, wire.CodeInvalidOutput), judge("a", 0, 20)}, false},
		{"consensus not the judge's", ConsensusOutcome{ItemID: "a", Status: Completed, Valuations: map[int]float64{0: 10, 1: 20, 2: 30}, JudgeValue: 25}, allOK, true},
		{"valuation from another call", ConsensusOutcome{ItemID: "a", Status: Completed, Valuations: map[int]float64{0: 20, 1: 20, 2: 30}, JudgeValue: 20}, allOK, true},
		{"completed without quorum", completed, append(twoFail, judge("a", 0, 20)), true},
		{"quorum not met as the rule says", failed(wire.CodeQuorumNotMet), twoFail, false},
		{"all failed called quorum not met", failed(wire.CodeQuorumNotMet),
			[]ProviderAnswer{visionFail("a", 0, 0, wire.CodeTimeout), visionFail("a", 1, 0, wire.CodeServerError), visionFail("a", 2, 0, wire.CodeServerError)}, true},
		{"all failed", failed(wire.CodeVisionAllFailed),
			[]ProviderAnswer{visionFail("a", 0, 0, wire.CodeTimeout), {ItemID: "a", CallIndex: 1, OK: true, Value: 1, Aborted: true}}, false},
		{"failed quorum though it was met", failed(wire.CodeQuorumNotMet), allOK, true},
		{"lost answer may go either way", failed(wire.CodeQuorumNotMet),
			[]ProviderAnswer{vision("a", 0, 0, 10), {ItemID: "a", CallIndex: 1, OK: true, Value: 5, Uncertain: true}}, false},
		{"judge malformed", failed(wire.CodeJudgeInvalidOutput),
			append(allOK[:3:3], judgeFail("a", 0, wire.CodeInvalidOutput)), false},
		{"judge malformed called judge failed", failed(wire.CodeJudgeFailed),
			append(allOK[:3:3], judgeFail("a", 0, wire.CodeInvalidOutput)), true},
		{"judge failed after retries", failed(wire.CodeJudgeFailed),
			append(allOK[:3:3], judgeFail("a", 0, wire.CodeServerError), judgeFail("a", 1, wire.CodeTimeout)), false},
		{"judge failed though it answered", failed(wire.CodeJudgeFailed), allOK, true},
		{"judge reached without a judge call", failed(wire.CodeJudgeFailed), allOK[:3], true},
		{"unexpected code", failed(wire.CodeImageUnavailable), allOK, true},
		{"still running is not judged here", ConsensusOutcome{ItemID: "a", Status: Running}, nil, false},
		{"terminated", ConsensusOutcome{ItemID: "a", Status: Terminated}, allOK, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckConsensus([]ConsensusOutcome{tc.outcome}, tc.answers)
			if tc.bad != (len(got) > 0) {
				t.Fatalf("violations = %v, want a violation: %v", got, tc.bad)
			}
			for _, v := range got {
				if v.Invariant != ConsensusRule || v.Subject != "item a" {
					t.Errorf("violation %v", v)
				}
			}
		})
	}
}
