package provider

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"
)

// Provider kinds and judge modes.
const (
	KindOffline = "offline"
	KindOpenAI  = "openai"

	JudgeModel       = "model"
	JudgeStatistical = "statistical"
)

// Environment variables read by ConfigFromEnv.
const (
	EnvProvider        = "INFERFLOW_PROVIDER"
	EnvBaseURL         = "INFERFLOW_OPENAI_BASE_URL"
	EnvAPIKey          = "INFERFLOW_OPENAI_API_KEY"
	EnvVisionModel     = "INFERFLOW_VISION_MODEL"
	EnvJudgeModel      = "INFERFLOW_JUDGE_MODEL"
	EnvCompletionModel = "INFERFLOW_COMPLETION_MODEL"
	EnvJudge           = "INFERFLOW_JUDGE"
	EnvHTTPTimeout     = "INFERFLOW_PROVIDER_HTTP_TIMEOUT"
)

// Defaults. The offline model ids only label results; DefaultHTTPTimeout is
// a backstop behind the activity's StartToCloseTimeout (the seed's 2-minute
// ceiling), not the primary timeout.
const (
	DefaultOfflineVisionModel     = "offline-vision-1"
	DefaultOfflineCompletionModel = "offline-completion-1"
	DefaultHTTPTimeout            = 120 * time.Second
)

// Config selects and configures the providers.
type Config struct {
	// Kind is "offline" (default) or "openai".
	Kind string
	// BaseURL is the OpenAI-compatible API root, e.g. https://api.openai.com/v1
	// or http://localhost:11434/v1; requests go to BaseURL + "/chat/completions".
	BaseURL string
	// APIKey is sent as a Bearer token when set. It is never logged: String,
	// GoString, LogValue and MarshalJSON leave it out.
	APIKey string
	// VisionModel is the default vision model (required for openai).
	VisionModel string
	// JudgeModel is the judge model; "" means VisionModel.
	JudgeModel string
	// CompletionModel is the default completion model; "" means VisionModel.
	CompletionModel string
	// Judge is "model" (default: ask JudgeModel) or "statistical". The
	// offline kind always uses the statistical judge.
	Judge string
	// HTTPTimeout bounds one HTTP attempt; 0 means DefaultHTTPTimeout.
	HTTPTimeout time.Duration

	// timeoutRaw keeps an unparsable INFERFLOW_PROVIDER_HTTP_TIMEOUT so
	// Validate can name it instead of ConfigFromEnv guessing.
	timeoutRaw string
}

// ConfigFromEnv reads the INFERFLOW_* variables. It does not validate: call
// Validate (New does).
func ConfigFromEnv() Config {
	c := Config{
		Kind:            strings.TrimSpace(os.Getenv(EnvProvider)),
		BaseURL:         strings.TrimSpace(os.Getenv(EnvBaseURL)),
		APIKey:          strings.TrimSpace(os.Getenv(EnvAPIKey)),
		VisionModel:     strings.TrimSpace(os.Getenv(EnvVisionModel)),
		JudgeModel:      strings.TrimSpace(os.Getenv(EnvJudgeModel)),
		CompletionModel: strings.TrimSpace(os.Getenv(EnvCompletionModel)),
		Judge:           strings.TrimSpace(os.Getenv(EnvJudge)),
	}
	if raw := strings.TrimSpace(os.Getenv(EnvHTTPTimeout)); raw != "" {
		if d, err := time.ParseDuration(raw); err == nil && d > 0 {
			c.HTTPTimeout = d
		} else {
			c.timeoutRaw = raw
		}
	}
	return c
}

// Validate checks the configuration; every error names the setting (by its
// environment variable) so an operator knows what to fix.
func (c Config) Validate() error {
	switch c.Kind {
	case "", KindOffline, KindOpenAI:
	default:
		return fmt.Errorf("provider: %s must be %q or %q, got %q", EnvProvider, KindOffline, KindOpenAI, c.Kind)
	}
	switch c.Judge {
	case "", JudgeModel, JudgeStatistical:
	default:
		return fmt.Errorf("provider: %s must be %q or %q, got %q", EnvJudge, JudgeModel, JudgeStatistical, c.Judge)
	}
	if c.timeoutRaw != "" {
		return fmt.Errorf("provider: %s must be a positive duration such as 90s, got %q", EnvHTTPTimeout, c.timeoutRaw)
	}
	if c.HTTPTimeout < 0 {
		return fmt.Errorf("provider: %s must be a positive duration, got %s", EnvHTTPTimeout, c.HTTPTimeout)
	}
	if strings.ContainsAny(c.APIKey, "\r\n\t ") {
		// Would corrupt the Authorization header; the value is not echoed.
		return fmt.Errorf("provider: %s must not contain whitespace or line breaks", EnvAPIKey)
	}
	if c.kind() != KindOpenAI {
		return nil
	}
	u, err := url.Parse(c.BaseURL)
	if c.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("provider: %s must be an absolute http(s) URL when %s=%s, got %q",
			EnvBaseURL, EnvProvider, KindOpenAI, redactURL(c.BaseURL))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("provider: %s must not have a query or fragment", EnvBaseURL)
	}
	if c.VisionModel == "" {
		return fmt.Errorf("provider: %s is required when %s=%s", EnvVisionModel, EnvProvider, KindOpenAI)
	}
	return nil
}

func (c Config) kind() string {
	if c.Kind == "" {
		return KindOffline
	}
	return c.Kind
}

func (c Config) judgeMode() string {
	if c.kind() == KindOffline || c.Judge == JudgeStatistical {
		return JudgeStatistical
	}
	return JudgeModel
}

func (c Config) judgeModel() string {
	if c.JudgeModel != "" {
		return c.JudgeModel
	}
	return c.VisionModel
}

func (c Config) completionModel() string {
	if c.CompletionModel != "" {
		return c.CompletionModel
	}
	return c.VisionModel
}

func (c Config) httpTimeout() time.Duration {
	if c.HTTPTimeout > 0 {
		return c.HTTPTimeout
	}
	return DefaultHTTPTimeout
}

func (c Config) keyState() string {
	if c.APIKey == "" {
		return "unset"
	}
	return "set"
}

// String describes the configuration without the API key.
func (c Config) String() string {
	return fmt.Sprintf("provider.Config{Kind:%s BaseURL:%s APIKey:%s VisionModel:%q JudgeModel:%q CompletionModel:%q Judge:%s HTTPTimeout:%s}",
		c.kind(), redactURL(c.BaseURL), c.keyState(), c.VisionModel, c.judgeModel(), c.completionModel(), c.judgeMode(), c.httpTimeout())
}

// GoString keeps %#v from printing the key.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the API key.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kind", c.kind()),
		slog.String("base_url", redactURL(c.BaseURL)),
		slog.String("api_key", c.keyState()),
		slog.String("vision_model", c.VisionModel),
		slog.String("judge_model", c.judgeModel()),
		slog.String("completion_model", c.completionModel()),
		slog.String("judge", c.judgeMode()),
		slog.Duration("http_timeout", c.httpTimeout()),
	)
}

// MarshalJSON renders the same redacted view as LogValue, so reflection
// based loggers (zap.Any, JSON dumps) cannot print the key or a URL password.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"kind":             c.kind(),
		"base_url":         redactURL(c.BaseURL),
		"api_key":          c.keyState(),
		"vision_model":     c.VisionModel,
		"judge_model":      c.judgeModel(),
		"completion_model": c.completionModel(),
		"judge":            c.judgeMode(),
		"http_timeout":     c.httpTimeout().String(),
	})
}

// redactURL hides a password embedded in a URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)" // it might hold a password
	}
	if u.User == nil {
		return raw
	}
	return u.Redacted()
}
