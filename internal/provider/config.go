package provider

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/inferflow/inferflow/internal/envflag"
)

// Provider kinds and judge modes.
const (
	KindOffline = "offline"
	KindOpenAI  = "openai"

	JudgeModel       = "model"
	JudgeStatistical = "statistical"
)

// Environment variables of the settings.
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

// Settings are the provider settings, each declared once. Config.Validate
// checks them together (a base URL matters only for openai).
var Settings = struct {
	Kind            envflag.Spec[string]
	BaseURL         envflag.Spec[string]
	APIKey          envflag.Spec[string]
	VisionModel     envflag.Spec[string]
	JudgeModel      envflag.Spec[string]
	CompletionModel envflag.Spec[string]
	Judge           envflag.Spec[string]
	HTTPTimeout     envflag.Spec[time.Duration]
}{
	Kind: envflag.Spec[string]{Flag: "provider", Env: EnvProvider, Default: KindOffline,
		Help: "model provider: offline or openai"},
	BaseURL: envflag.Spec[string]{Flag: "openai-base-url", Env: EnvBaseURL,
		Help: "OpenAI-compatible API root, e.g. http://localhost:11434/v1"},
	// Environment only, so the key never shows up in a process list.
	APIKey: envflag.Spec[string]{Env: EnvAPIKey, Secret: true,
		Help: "OpenAI-compatible API key, sent as a Bearer token; never logged, never in workflow history"},
	VisionModel: envflag.Spec[string]{Flag: "vision-model", Env: EnvVisionModel,
		Help: "default vision model (required for openai)"},
	JudgeModel: envflag.Spec[string]{Flag: "judge-model", Env: EnvJudgeModel,
		Help: "judge model (default: the vision model)"},
	CompletionModel: envflag.Spec[string]{Flag: "completion-model", Env: EnvCompletionModel,
		Help: "default completion model for billed jobs (default: the vision model)"},
	Judge: envflag.Spec[string]{Flag: "judge", Env: EnvJudge, Default: JudgeModel,
		Help: "judge: model or statistical (weighted median, no model)"},
	HTTPTimeout: envflag.Spec[time.Duration]{Flag: "provider-http-timeout", Env: EnvHTTPTimeout, Default: DefaultHTTPTimeout,
		Help: "bound on one HTTP attempt to the provider, behind the activity timeout", Check: envflag.Positive[time.Duration]},
}

// Defaults. The offline model ids only label results; DefaultHTTPTimeout is
// a backstop behind the activity's StartToCloseTimeout (the contract's
// 2-minute ceiling, CONTRACT.md#inference-inputs), not the primary timeout.
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
}

// Register adds the provider settings to s; Parse validates them together.
func (c *Config) Register(s *envflag.Set) {
	envflag.Var(s, &c.Kind, Settings.Kind)
	envflag.Var(s, &c.BaseURL, Settings.BaseURL)
	envflag.Var(s, &c.APIKey, Settings.APIKey)
	envflag.Var(s, &c.VisionModel, Settings.VisionModel)
	envflag.Var(s, &c.JudgeModel, Settings.JudgeModel)
	envflag.Var(s, &c.CompletionModel, Settings.CompletionModel)
	envflag.Var(s, &c.Judge, Settings.Judge)
	envflag.Var(s, &c.HTTPTimeout, Settings.HTTPTimeout)
	s.Check(func() error { return c.Validate() }) // c, not a copy taken now
}

// Validate checks the configuration; every error names the setting
// ("--provider (INFERFLOW_PROVIDER)") so an operator knows what to fix.
func (c Config) Validate() error {
	switch c.Kind {
	case "", KindOffline, KindOpenAI:
	default:
		return invalid(Settings.Kind.Invalid(c.Kind, "want %s or %s", KindOffline, KindOpenAI))
	}
	switch c.Judge {
	case "", JudgeModel, JudgeStatistical:
	default:
		return invalid(Settings.Judge.Invalid(c.Judge, "want %s or %s", JudgeModel, JudgeStatistical))
	}
	if c.HTTPTimeout < 0 {
		return invalid(Settings.HTTPTimeout.Invalid(c.HTTPTimeout, "must be positive"))
	}
	if strings.ContainsAny(c.APIKey, "\r\n\t ") {
		// Would corrupt the Authorization header; the value is not echoed.
		return invalid(Settings.APIKey.Errorf("must not contain whitespace or line breaks"))
	}
	if c.kind() != KindOpenAI {
		return nil
	}
	if c.BaseURL == "" {
		return invalid(Settings.BaseURL.Errorf("required when %s is %s", Settings.Kind.Name(), KindOpenAI))
	}
	if err := envflag.HTTPURL(c.BaseURL); err != nil {
		return invalid(Settings.BaseURL.Invalid(redactURL(c.BaseURL), "%w", err))
	}
	if c.VisionModel == "" {
		return invalid(Settings.VisionModel.Errorf("required when %s is %s", Settings.Kind.Name(), KindOpenAI))
	}
	return nil
}

// invalid prefixes the package name, as every provider error is.
func invalid(err error) error { return fmt.Errorf("provider: %w", err) }

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
