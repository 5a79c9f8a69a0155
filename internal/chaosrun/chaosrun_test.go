package chaosrun

import (
	"context"
	"errors"
	"testing"

	"github.com/inferflow/inferflow/internal/chaoscheck"
	"github.com/inferflow/inferflow/internal/provider/openaitest"
	"github.com/inferflow/inferflow/internal/providerplan"
)

func TestExternalCannotRestart(t *testing.T) {
	var s TemporalServer = External{Address: "127.0.0.1:7233", NS: "default"}
	if err := s.Restart(context.Background()); !errors.Is(err, ErrRestartUnsupported) {
		t.Fatalf("Restart = %v, want ErrRestartUnsupported", err)
	}
	if s.HostPort() != "127.0.0.1:7233" || s.Namespace() != "default" || s.Stop() != nil {
		t.Fatal("External does not give back its address and namespace")
	}
}

func TestParseRequestID(t *testing.T) {
	cases := []struct {
		kind openaitest.Kind
		id   string
		want chaoscheck.ProviderAnswer
		ok   bool
	}{
		{openaitest.KindVision, "chaos-1-s0-c5_v2_a1", chaoscheck.ProviderAnswer{ItemID: "chaos-1-s0-c5", CallIndex: 2, Attempt: 1}, true},
		{openaitest.KindJudge, "chaos-1-s0-c5_judge_a0", chaoscheck.ProviderAnswer{ItemID: "chaos-1-s0-c5", Judge: true}, true},
		{openaitest.KindVision, "item_with_v_v0_a3", chaoscheck.ProviderAnswer{ItemID: "item_with_v", Attempt: 3}, true},
		{openaitest.KindCompletion, "chaos-1-s0-j4", chaoscheck.ProviderAnswer{}, false},
		{openaitest.KindVision, "no-attempt", chaoscheck.ProviderAnswer{}, false},
		{openaitest.KindJudge, "x_v0_a0", chaoscheck.ProviderAnswer{}, false},
	}
	for _, tc := range cases {
		got, ok := parseRequestID(providerplan.Decision{Kind: tc.kind, RequestID: tc.id})
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s %q: %+v, %v; want %+v, %v", tc.kind, tc.id, got, ok, tc.want, tc.ok)
		}
	}
}

func TestWorkerOf(t *testing.T) {
	for path, want := range map[string]int{"/w0/v1/chat/completions": 0, "/w12/v1/chat/completions": 12, "/v1/chat/completions": -1, "/wx/v1": -1} {
		if got := workerOf(path); got != want {
			t.Errorf("workerOf(%q) = %d, want %d", path, got, want)
		}
	}
}
