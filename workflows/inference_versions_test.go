package workflows

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/wire"
)

// sagaVersion is one set of answers to the saga's version gates: what a run
// started under that code finds in its history.
type sagaVersion struct {
	name   string
	v3     workflow.Version // changeSagaV3
	claim  workflow.Version // changeClaimJob (not asked under saga-v3)
	sparse workflow.Version // sparseStateChange (not asked under saga-v3)
}

const dv = workflow.DefaultVersion

var sagaVersions = []sagaVersion{
	{name: "before claim-job", v3: dv, claim: dv, sparse: dv},
	{name: "claim-job", v3: dv, claim: versionClaimJob, sparse: dv},
	{name: "claim-job+sparse", v3: dv, claim: versionClaimJob, sparse: sparseStateVersion},
	// The older gates are not asked; were they, they would answer this.
	{name: "saga-v3", v3: versionSagaV3, claim: dv, sparse: dv},
}

// ledgerSteps are the saga's ledger activities, which saga-v3 runs locally.
var ledgerSteps = []string{wire.ActivityClaimJob, wire.ActivityReserve, wire.ActivityCapture, wire.ActivityRelease}

// versionedSagaEnv is a saga environment whose version gates answer as v
// does, recording which gates the run asked, which activities it ran as
// local or regular ones, and its BillingState upserts.
type versionedSagaEnv struct {
	*testsuite.TestWorkflowEnvironment
	mu       sync.Mutex
	asked    []string
	local    []string
	regular  []string
	upserted []string
}

func newVersionedSagaEnv(t *testing.T, f *fakeBilling, v sagaVersion) *versionedSagaEnv {
	e := &versionedSagaEnv{TestWorkflowEnvironment: newSagaEnv(t, f)}
	if err := e.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(
		JobIDKey.ValueSet("job-1"), BillingStateKey.ValueSet(string(wire.StateClaimed)))); err != nil {
		t.Fatal(err)
	}
	gate := func(id string, max, answer workflow.Version) {
		e.OnGetVersion(id, workflow.DefaultVersion, max).Run(func(mock.Arguments) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.asked = append(e.asked, id)
		}).Return(answer).Maybe()
	}
	gate(changeSagaV3, versionSagaV3, v.v3)
	gate(changeClaimJob, versionClaimJob, v.claim)
	gate(sparseStateChange, sparseStateVersion, v.sparse)
	e.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.local = append(e.local, info.ActivityType.Name)
	})
	e.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.regular = append(e.regular, info.ActivityType.Name)
	})
	e.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		if s, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(BillingStateKey); ok {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.upserted = append(e.upserted, s)
		}
	}).Return(nil)
	return e
}

// The saga has the same outcomes under every version a run may have been
// started with: its result or error code, its ledger calls and attempts,
// DLQ records and reconciliation, its final state and the BillingState an
// operator finds it by. Only saga-v3 runs the ledger steps as local
// activities, and it asks for no older gate (its marker implies them); the
// older versions run every ledger step as a regular activity.
func TestSagaVersions(t *testing.T) {
	ledgerDown := func(int) error { return errors.New("ledger down") }
	modelFails := func(f *fakeBilling) {
		f.modelErr = temporal.NewNonRetryableApplicationError("model", string(wire.CodeModelServerError), nil)
	}
	tests := []struct {
		name      string
		setup     func(f *fakeBilling)
		cancel    bool // cancel the run during the model call
		needClaim bool // the outcome needs the job claim (claim-job or later)
		wantCode  wire.Code
		wantState wire.JobState
		// The last BillingState upserted ("" = none: the start's CLAIMED
		// stands).
		wantShown                                  string
		reserves, models, captures, releases, dlqs int
		wantDLQ                                    wire.DLQType
	}{
		{name: "captured", wantState: wire.StateCaptured, wantShown: "CAPTURED", reserves: 1, models: 1, captures: 1},
		{name: "reservation refused", setup: func(f *fakeBilling) {
			f.reserveErr = func(int) error { return rejected(ledger.ReasonInsufficientCredits) }
		}, wantCode: wire.CodeReservationFailed, wantState: wire.StateReservationFailed, wantShown: "RESERVATION_FAILED", reserves: 1},
		{name: "ledger down at reserve", setup: func(f *fakeBilling) { f.reserveErr = ledgerDown },
			wantCode: wire.CodeInfraUnavailable, wantState: wire.StateReservationFailed, wantShown: "RESERVATION_FAILED", reserves: 5,
			dlqs: 1, wantDLQ: wire.DLQReserveUncertain},
		{name: "model failed, released", setup: modelFails,
			wantCode: wire.CodeModelServerError, wantState: wire.StateReleased, wantShown: "RELEASED", reserves: 1, models: 1, releases: 1},
		{name: "release failed, reconciliation", setup: func(f *fakeBilling) { modelFails(f); f.releaseErr = ledgerDown },
			wantCode: wire.CodeModelServerError, wantState: wire.StateReconciliationRequired, wantShown: "RECONCILIATION_REQUIRED",
			reserves: 1, models: 1, releases: 5, dlqs: 1, wantDLQ: wire.DLQReleaseFailed},
		{name: "capture failed, reconciliation", setup: func(f *fakeBilling) { f.captureErr = ledgerDown },
			wantCode: wire.CodeCaptureFailed, wantState: wire.StateReconciliationRequired, wantShown: "RECONCILIATION_REQUIRED",
			reserves: 1, models: 1, captures: 5, dlqs: 1, wantDLQ: wire.DLQCaptureFailed},
		{name: "capture rejected, not retried", setup: func(f *fakeBilling) {
			f.captureErr = func(int) error { return rejected(ledger.ReasonUsageExceedsReservation) }
		}, wantCode: wire.CodeCaptureFailed, wantState: wire.StateReconciliationRequired, wantShown: "RECONCILIATION_REQUIRED",
			reserves: 1, models: 1, captures: 1, dlqs: 1, wantDLQ: wire.DLQCaptureFailed},
		{name: "cancelled during the model call", setup: func(f *fakeBilling) { f.modelBlock = true }, cancel: true,
			wantState: wire.StateReleased, wantShown: "RELEASED", reserves: 1, models: 1, releases: 1},
		{name: "duplicate job", needClaim: true, setup: func(f *fakeBilling) { f.claims["job-1"] = "the-first-run" },
			wantCode: wire.CodeDuplicateJob, wantState: wire.StateClaimed},
	}
	for _, v := range sagaVersions {
		for _, tt := range tests {
			if tt.needClaim && v.v3 == dv && v.claim == dv {
				continue // no claim: a second run is not refused by this code
			}
			t.Run(v.name+"/"+tt.name, func(t *testing.T) {
				f := newFakeBilling()
				if tt.setup != nil {
					tt.setup(f)
				}
				env := newVersionedSagaEnv(t, f, v)
				if tt.cancel {
					env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, time.Second)
				}
				env.ExecuteWorkflow(InferenceJob, sagaInput(""))
				err := env.GetWorkflowError()
				var canceled *temporal.CanceledError
				switch {
				case tt.cancel:
					if !errors.As(err, &canceled) {
						t.Fatalf("want cancelled, got %v", err)
					}
				case tt.wantCode == "":
					if err != nil {
						t.Fatal(err)
					}
				default:
					if code, _ := inferenceFailure(t, err); code != tt.wantCode {
						t.Fatalf("code = %s, want %s (%v)", code, tt.wantCode, err)
					}
				}
				if st := jobStatus(t, env.TestWorkflowEnvironment); st.State != tt.wantState {
					t.Errorf("state = %s, want %s", st.State, tt.wantState)
				}
				if got := [...]int{f.reserves, f.models, len(f.captures), f.releases, len(f.dlq)}; got != [...]int{tt.reserves, tt.models, tt.captures, tt.releases, tt.dlqs} {
					t.Errorf("reserves, models, captures, releases, DLQ records = %v, want %v",
						got, [...]int{tt.reserves, tt.models, tt.captures, tt.releases, tt.dlqs})
				}
				if tt.wantDLQ != "" {
					if len(f.dlq) != 1 || f.dlq[0].Type != tt.wantDLQ {
						t.Errorf("DLQ = %+v, want one %s", f.dlq, tt.wantDLQ)
					}
					if tt.wantDLQ != wire.DLQUsageOverage && (len(f.reconciles) != 1 || f.reconciles[0].Type != tt.wantDLQ) {
						t.Errorf("reconciliation = %+v, want one for %s", f.reconciles, tt.wantDLQ)
					}
				}
				shown := ""
				if n := len(env.upserted); n > 0 {
					shown = env.upserted[n-1]
				}
				if shown != tt.wantShown {
					t.Errorf("BillingState upserts = %v, want the last %q", env.upserted, tt.wantShown)
				}

				claimed := v.v3 != dv || v.claim != dv
				if (f.claimCalls > 0) != claimed {
					t.Errorf("claim attempts = %d under %s", f.claimCalls, v.name)
				}
				if v.v3 != dv {
					if slices.Contains(env.asked, changeClaimJob) || slices.Contains(env.asked, sparseStateChange) {
						t.Errorf("saga-v3 asked for the older gates: %v", env.asked)
					}
				}
				for _, step := range ledgerSteps {
					if slices.Contains(env.local, step) != (v.v3 != dv && ran(f, step)) {
						t.Errorf("%s as a local activity: %v (local %v)", step, slices.Contains(env.local, step), env.local)
					}
					if slices.Contains(env.regular, step) != (v.v3 == dv && ran(f, step)) {
						t.Errorf("%s as a regular activity: %v (regular %v)", step, slices.Contains(env.regular, step), env.regular)
					}
				}
				if tt.models > 0 && (!slices.Contains(env.regular, wire.ActivityCallModel) || slices.Contains(env.local, wire.ActivityCallModel)) {
					t.Errorf("the model call must be a regular activity: local %v, regular %v", env.local, env.regular)
				}
			})
		}
	}
}

// ran reports whether the fake saw the ledger step.
func ran(f *fakeBilling, step string) bool {
	switch step {
	case wire.ActivityClaimJob:
		return f.claimCalls > 0
	case wire.ActivityReserve:
		return f.reserves > 0
	case wire.ActivityCapture:
		return len(f.captures) > 0
	case wire.ActivityRelease:
		return f.releases > 0
	}
	return false
}
