package tokenusage

import "testing"

func TestCheck(t *testing.T) {
	tests := []struct {
		name                    string
		prompt, completion, tot int
		ok                      bool
	}{
		{"adds up", 100, 40, 140, true},
		{"zero", 0, 0, 0, true},
		{"at the bound", MaxTokens, 0, MaxTokens, true},
		{"total above the sum", 100, 40, 150, false},
		{"total below the sum", 100, 40, 130, false},
		{"negative prompt", -1, 10, 9, false},
		{"negative completion", 10, -1, 9, false},
		{"negative total", 10, 10, -20, false},
		{"prompt above the bound", MaxTokens + 1, 0, MaxTokens + 1, false},
		{"completion above the bound", 0, MaxTokens + 1, MaxTokens + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Check(tt.prompt, tt.completion, tt.tot); (err == nil) != tt.ok {
				t.Fatalf("Check(%d, %d, %d) = %v, want ok=%v", tt.prompt, tt.completion, tt.tot, err, tt.ok)
			}
		})
	}
}
