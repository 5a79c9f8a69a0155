package activities

import (
	"testing"

	"github.com/inferflow/inferflow/internal/ledger"
	"github.com/inferflow/inferflow/internal/provider"
	"github.com/inferflow/inferflow/wire"
)

// The provider's model-call codes cross the wire unchanged: each must be the
// wire code of the same name and transience.
func TestWireCodes(t *testing.T) {
	for _, tt := range []struct {
		provider provider.Code
		wire     wire.Code
	}{
		{provider.CodeTimeout, wire.CodeTimeout},
		{provider.CodeRateLimited, wire.CodeRateLimited},
		{provider.CodeServerError, wire.CodeServerError},
		{provider.CodeClientError, wire.CodeClientError},
		{provider.CodeInvalidOutput, wire.CodeInvalidOutput},
		{provider.CodeInvalidInput, wire.CodeInvalidInput},
	} {
		got := wireCode(tt.provider)
		if got != tt.wire || got.Transient() != tt.provider.Transient() {
			t.Errorf("wireCode(%s) = %s (transient %v), want %s (transient %v)", tt.provider, got, got.Transient(), tt.wire, tt.provider.Transient())
		}
	}
}

func TestCheckDLQ(t *testing.T) {
	good := wire.DLQInput{Type: wire.DLQCaptureFailed, JobID: "j", SchemaVersion: 1,
		Payload: wire.DLQPayload{Type: wire.DLQCaptureFailed, JobID: "j"}}
	tests := []struct {
		name   string
		change func(*wire.DLQInput)
		ok     bool
	}{
		{"valid", func(*wire.DLQInput) {}, true},
		{"unknown type", func(in *wire.DLQInput) { in.Type, in.Payload.Type = "LOST", "LOST" }, false},
		{"no job id", func(in *wire.DLQInput) { in.JobID, in.Payload.JobID = "", "" }, false},
		{"payload for another job", func(in *wire.DLQInput) { in.Payload.JobID = "k" }, false},
		{"payload of another type", func(in *wire.DLQInput) { in.Payload.Type = wire.DLQReleaseFailed }, false},
	}
	for _, tt := range tests {
		in := good
		tt.change(&in)
		if err := checkDLQ(in); (err == nil) != tt.ok {
			t.Errorf("%s: checkDLQ = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// The ledger's refusal reasons and token bound cross the wire unchanged:
// workflows branch on wire's copies of them.
func TestWireLedgerNames(t *testing.T) {
	for _, tt := range []struct {
		ledger ledger.Reason
		wire   string
	}{
		{ledger.ReasonInsufficientCredits, wire.ReasonInsufficientCredits},
		{ledger.ReasonUsageExceedsReservation, wire.ReasonUsageExceedsReservation},
		{ledger.ReasonHoldNotActive, wire.ReasonHoldNotActive},
		{ledger.ReasonHoldExpired, wire.ReasonHoldExpired},
	} {
		if string(tt.ledger) != tt.wire {
			t.Errorf("ledger reason %s, wire %s", tt.ledger, tt.wire)
		}
	}
	if wire.MaxTokens != ledger.MaxTokens {
		t.Errorf("wire.MaxTokens = %d, ledger.MaxTokens = %d", wire.MaxTokens, ledger.MaxTokens)
	}
}
