package provider

import (
	"context"
	"errors"
	"testing"
)

func TestOfflineVisionDeterministicAndContentDriven(t *testing.T) {
	o := NewOffline(Config{})
	ctx := context.Background()
	images := map[string]Image{
		"checker.png":  {MediaType: MediaTypePNG, Data: readTestdata(t, "checker.png")},
		"checker.jpg":  {MediaType: MediaTypeJPEG, Data: readTestdata(t, "checker.jpg")},
		"grey.png":     {MediaType: MediaTypePNG, Data: readTestdata(t, "grey.png")},
		"grey.jpg":     {MediaType: MediaTypeJPEG, Data: readTestdata(t, "grey.jpg")},
		"tiny.webp":    {MediaType: MediaTypeWebP, Data: readTestdata(t, "tiny.webp")},
		"gradient3":    {Data: encodePNG(t, gradientImage(40, 30, 3))},
		"gradient7":    {Data: encodePNG(t, gradientImage(40, 30, 7))},
		"gradient7jpg": {Data: encodeJPEG(t, gradientImage(40, 30, 7))},
	}
	seen := map[float64]string{}
	for name, img := range images {
		first, err := o.Vision(ctx, VisionRequest{Image: img, RequestID: "r1"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := ValidateVision(first); err != nil {
			t.Errorf("%s: invalid output %+v: %v", name, first, err)
		}
		if first.Value < offlineMinValue || first.Value > offlineMaxValue {
			t.Errorf("%s: value %v outside [%v, %v]", name, first.Value, offlineMinValue, offlineMaxValue)
		}
		if first.ModelID != DefaultOfflineVisionModel {
			t.Errorf("%s: model %q, want default %q", name, first.ModelID, DefaultOfflineVisionModel)
		}
		// Same input, fresh provider (no cache), different request id: same output.
		again, err := NewOffline(Config{}).Vision(ctx, VisionRequest{Image: img, RequestID: "r2"})
		if err != nil || again != first {
			t.Errorf("%s: not deterministic: %+v then %+v (%v)", name, first, again, err)
		}
		if other, dup := seen[first.Value]; dup {
			t.Errorf("%s and %s got the same value %v", name, other, first.Value)
		}
		seen[first.Value] = name
	}
}

func TestOfflineVisionPerModelVariation(t *testing.T) {
	o := NewOffline(Config{})
	img := Image{Data: readTestdata(t, "checker.png")}
	var vals []float64
	for _, m := range []string{"model-a", "model-b", "model-c"} {
		out, err := o.Vision(context.Background(), VisionRequest{Image: img, ModelID: m})
		if err != nil {
			t.Fatal(err)
		}
		if out.ModelID != m {
			t.Errorf("model id %q, want %q", out.ModelID, m)
		}
		vals = append(vals, out.Value)
	}
	if vals[0] == vals[1] || vals[1] == vals[2] || vals[0] == vals[2] {
		t.Errorf("model ids should shift the value slightly: %v", vals)
	}
	for _, v := range vals[1:] {
		if r := v / vals[0]; r < 0.9 || r > 1.1 {
			t.Errorf("model variation too large: %v", vals)
		}
	}
}

func TestOfflineVisionErrors(t *testing.T) {
	o := NewOffline(Config{})
	if _, err := o.Vision(context.Background(), VisionRequest{Image: Image{MediaType: MediaTypePNG}}); CodeOf(err) != CodeInvalidInput {
		t.Errorf("empty image: err %v, want INVALID_INPUT", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := o.Vision(ctx, VisionRequest{Image: Image{Data: readTestdata(t, "grey.png")}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: err %v, want context.Canceled", err)
	}
}

func TestOfflineComplete(t *testing.T) {
	o := NewOffline(Config{})
	ctx := context.Background()
	tests := []struct {
		name       string
		req        CompletionRequest
		wantPrompt int
		wantErr    bool
	}{
		{"estimate from prompt", CompletionRequest{Prompt: "0123456789abcdef", RequestID: "j1"}, 4, false},
		{"caller estimate wins when larger", CompletionRequest{Prompt: "abcd", PromptTokens: 50, RequestID: "j1"}, 50, false},
		{"no prompt text", CompletionRequest{PromptTokens: 10, MaxTokens: 5, RequestID: "j2"}, 10, false},
		{"max tokens 1", CompletionRequest{Prompt: "hello there", MaxTokens: 1}, 3, false},
		{"nothing to meter", CompletionRequest{}, 0, true},
		{"negative max", CompletionRequest{Prompt: "x", MaxTokens: -1}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := o.Complete(ctx, tt.req)
			if tt.wantErr {
				if CodeOf(err) != CodeInvalidInput {
					t.Fatalf("err %v, want INVALID_INPUT", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := ValidateCompletion(out); err != nil {
				t.Errorf("invalid output %+v: %v", out, err)
			}
			u := out.Usage
			if u.PromptTokens != tt.wantPrompt {
				t.Errorf("prompt tokens %d, want %d", u.PromptTokens, tt.wantPrompt)
			}
			if tt.req.MaxTokens > 0 && u.CompletionTokens > tt.req.MaxTokens {
				t.Errorf("completion tokens %d > max %d", u.CompletionTokens, tt.req.MaxTokens)
			}
			if u.TotalTokens != u.PromptTokens+u.CompletionTokens {
				t.Errorf("total %d != %d + %d", u.TotalTokens, u.PromptTokens, u.CompletionTokens)
			}
			again, _ := o.Complete(ctx, tt.req)
			if again != out {
				t.Errorf("not deterministic: %+v vs %+v", out, again)
			}
		})
	}
}

func BenchmarkOfflineVision(b *testing.B) {
	o := NewOffline(Config{})
	data, err := readFileB("checker.jpg")
	if err != nil {
		b.Fatal(err)
	}
	req := VisionRequest{Image: Image{MediaType: MediaTypeJPEG, Data: data}, ModelID: "m"}
	ctx := context.Background()
	for b.Loop() {
		if _, err := o.Vision(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOfflineComplete(b *testing.B) {
	o := NewOffline(Config{})
	req := CompletionRequest{Prompt: "summarise the quarterly report in three bullet points", MaxTokens: 200, RequestID: "job-1"}
	ctx := context.Background()
	for b.Loop() {
		if _, err := o.Complete(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
