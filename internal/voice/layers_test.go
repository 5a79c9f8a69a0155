package voice

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The realtime layers stay apart (README, "Realtime voice"): the gate
// links neither Pion nor Temporal; one package imports Pion's WebRTC; one
// package binds libopus with cgo; the workflows link neither Pion nor the
// gate (workflows' own dependency test checks the rest of that).
func TestLayers(t *testing.T) {
	const module = "github.com/inferflow/inferflow/"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{len .CgoFiles}}", "../../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pionImporters, cgo []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "|", 3)
		pkg, imports, cgoFiles := strings.TrimPrefix(parts[0], module), strings.Fields(parts[1]), parts[2]
		if slices.Contains(imports, "github.com/pion/webrtc/v4") {
			pionImporters = append(pionImporters, pkg)
		}
		if cgoFiles != "0" {
			cgo = append(cgo, pkg)
		}
	}
	if !slices.Equal(pionImporters, []string{"internal/rtc"}) {
		t.Errorf("packages importing pion/webrtc: %v, want only internal/rtc", pionImporters)
	}
	if !slices.Equal(cgo, []string{"internal/codec"}) {
		t.Errorf("packages with cgo: %v, want only internal/codec", cgo)
	}
	for pkg, forbidden := range map[string][]string{
		module + "gate":      {"github.com/pion/", "go.temporal.io/"},
		module + "workflows": {"github.com/pion/", module + "gate"},
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s links %s", pkg, dep)
				}
			}
		}
	}
}
