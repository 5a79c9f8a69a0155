package provider

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/envflag"
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

func TestRegister(t *testing.T) {
	all := envflag.Map{
		EnvProvider: "openai", EnvBaseURL: " http://localhost:8000/v1 ", EnvAPIKey: "sk-env-secret",
		EnvVisionModel: "v", EnvJudgeModel: "j", EnvCompletionModel: "c", EnvJudge: "statistical", EnvHTTPTimeout: "45s",
	}
	tests := []struct {
		name string
		env  envflag.Map
		args []string
		want Config
		err  string // "" = valid; else the setting the error must name
	}{
		{name: "defaults", want: Config{Kind: KindOffline, Judge: JudgeModel, HTTPTimeout: DefaultHTTPTimeout}},
		{name: "environment", env: all, want: Config{Kind: "openai", BaseURL: "http://localhost:8000/v1", APIKey: "sk-env-secret",
			VisionModel: "v", JudgeModel: "j", CompletionModel: "c", Judge: "statistical", HTTPTimeout: 45 * time.Second}},
		{name: "flags over environment", env: all,
			args: []string{"--provider", "offline", "--vision-model", "v2", "--judge", "model", "--provider-http-timeout", "1m"},
			want: Config{Kind: "offline", BaseURL: "http://localhost:8000/v1", APIKey: "sk-env-secret",
				VisionModel: "v2", JudgeModel: "j", CompletionModel: "c", Judge: "model", HTTPTimeout: time.Minute}},
		{name: "api key has no flag", args: []string{"--api-key", "x"}, err: "flag provided but not defined"},
		{name: "unparsable timeout", env: envflag.Map{EnvHTTPTimeout: "forever"}, err: "--provider-http-timeout (" + EnvHTTPTimeout + `) "forever"`},
		{name: "zero timeout", args: []string{"--provider-http-timeout", "0s"}, err: EnvHTTPTimeout},
		{name: "unknown provider", env: envflag.Map{EnvProvider: "magic"}, err: `--provider (INFERFLOW_PROVIDER) "magic"`},
		{name: "openai without base url", args: []string{"--provider", "openai", "--vision-model", "m"}, err: "--openai-base-url (" + EnvBaseURL + ")"},
		{name: "bad base url", args: []string{"--provider", "openai", "--vision-model", "m", "--openai-base-url", "localhost:8000"}, err: "absolute http(s) URL"},
		{name: "openai without model", env: envflag.Map{EnvProvider: "openai", EnvBaseURL: "http://h/v1"}, err: "--vision-model (" + EnvVisionModel + ")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := envflag.NewWithEnv("test", tt.env)
			s.SetOutput(new(strings.Builder))
			var got Config
			got.Register(s)
			err := s.Parse(tt.args)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to name %s", err, tt.err)
				}
				if strings.Contains(err.Error(), "sk-env-secret") {
					t.Fatalf("error echoes the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if got.APIKey != tt.want.APIKey {
				t.Errorf("api key %q, want %q", got.APIKey, tt.want.APIKey)
			}
		})
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
