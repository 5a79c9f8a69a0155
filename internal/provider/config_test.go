package provider

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Kind: KindOpenAI, BaseURL: "http://localhost:11434/v1", VisionModel: "llava"}
	tests := []struct {
		name    string
		cfg     Config
		setting string // "" = valid
	}{
		{"zero is offline", Config{}, ""},
		{"offline ignores url", Config{Kind: KindOffline, BaseURL: "::bad"}, ""},
		{"openai ok", ok, ""},
		{"openai https with key", with(ok, func(c *Config) { c.BaseURL = "https://api.openai.com/v1"; c.APIKey = "sk-1" }), ""},
		{"unknown kind", Config{Kind: "anthropic"}, EnvProvider},
		{"unknown judge", Config{Judge: "vote"}, EnvJudge},
		{"openai without url", with(ok, func(c *Config) { c.BaseURL = "" }), EnvBaseURL},
		{"relative url", with(ok, func(c *Config) { c.BaseURL = "/v1" }), EnvBaseURL},
		{"ftp url", with(ok, func(c *Config) { c.BaseURL = "ftp://host/v1" }), EnvBaseURL},
		{"no host", with(ok, func(c *Config) { c.BaseURL = "http:///v1" }), EnvBaseURL},
		{"query in url", with(ok, func(c *Config) { c.BaseURL = "http://h/v1?x=1" }), EnvBaseURL},
		{"no vision model", with(ok, func(c *Config) { c.VisionModel = "" }), EnvVisionModel},
		{"negative timeout", with(ok, func(c *Config) { c.HTTPTimeout = -time.Second }), EnvHTTPTimeout},
		{"unparsable env timeout", with(ok, func(c *Config) { c.timeoutRaw = "soon" }), EnvHTTPTimeout},
		{"key with newline", with(ok, func(c *Config) { c.APIKey = "sk-1\nX-Evil: 1" }), EnvAPIKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.setting == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error naming %s", tt.setting)
			}
			if !strings.Contains(err.Error(), tt.setting) || !strings.HasPrefix(err.Error(), "provider: ") {
				t.Errorf("%q does not name %s", err, tt.setting)
			}
			if strings.Contains(err.Error(), "X-Evil") {
				t.Errorf("error echoes the key: %v", err)
			}
		})
	}
}

func with(c Config, f func(*Config)) Config { f(&c); return c }

func TestConfigFromEnv(t *testing.T) {
	t.Setenv(EnvProvider, "openai")
	t.Setenv(EnvBaseURL, " http://localhost:8000/v1 ")
	t.Setenv(EnvAPIKey, "sk-env-secret")
	t.Setenv(EnvVisionModel, "v")
	t.Setenv(EnvJudgeModel, "j")
	t.Setenv(EnvCompletionModel, "c")
	t.Setenv(EnvJudge, "statistical")
	t.Setenv(EnvHTTPTimeout, "45s")
	got := ConfigFromEnv()
	want := Config{Kind: "openai", BaseURL: "http://localhost:8000/v1", APIKey: "sk-env-secret",
		VisionModel: "v", JudgeModel: "j", CompletionModel: "c", Judge: "statistical", HTTPTimeout: 45 * time.Second}
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
	t.Setenv(EnvHTTPTimeout, "forever")
	if err := ConfigFromEnv().Validate(); err == nil || !strings.Contains(err.Error(), EnvHTTPTimeout) {
		t.Errorf("bad timeout: %v", err)
	}
}

func TestConfigNeverPrintsKey(t *testing.T) {
	c := Config{Kind: KindOpenAI, BaseURL: "http://user:pw-secret@h/v1", APIKey: "sk-very-secret", VisionModel: "m"}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "provider", c)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("cfg", "provider", c)
	js, _ := json.Marshal(c)
	for name, s := range map[string]string{
		"json":   string(js) + " set",
		"String": c.String(), "%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c),
		"%#v": fmt.Sprintf("%#v", c), "slog": logs.String(),
	} {
		if strings.Contains(s, "sk-very-secret") || strings.Contains(s, "pw-secret") {
			t.Errorf("%s leaks a secret: %s", name, s)
		}
		if !strings.Contains(s, "set") {
			t.Errorf("%s should say the key is set: %s", name, s)
		}
	}
}
