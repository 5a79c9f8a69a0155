package logging

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestNewRejectsBadSettings(t *testing.T) {
	tests := []struct {
		mode  Mode
		level string
		ok    bool
	}{
		{Dev, "info", true},
		{Prod, "debug", true},
		{"", "warn", true},
		{"xml", "info", false},
		{Dev, "loud", false},
	}
	for _, tt := range tests {
		_, err := New(tt.mode, tt.level)
		if (err == nil) != tt.ok {
			t.Errorf("New(%q, %q) err = %v, want ok=%v", tt.mode, tt.level, err, tt.ok)
		}
	}
}

func TestSDKAdapterKeepsFields(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	l := NewSDK(zap.New(core)).With("WorkflowID", "w1")
	l.Info("started", "quorum", 2, "dangling")
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("got %d entries", len(entries))
	}
	m := entries[0].ContextMap()
	if m["WorkflowID"] != "w1" || m["quorum"] != int64(2) || m["extra"] != "dangling" {
		t.Fatalf("fields = %v", m)
	}
}
