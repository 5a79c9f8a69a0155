// Package logging builds the project's zap loggers and adapts them to the
// Temporal SDK, so workers, activities and (replay-safe) workflow loggers all
// write through one zap core.
package logging

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Mode selects the encoder: "dev" is a readable console, "prod" is JSON.
type Mode string

const (
	Dev  Mode = "dev"
	Prod Mode = "prod"
)

// New returns a zap logger for the mode and level ("debug", "info", "warn", "error").
func New(mode Mode, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(strings.ToLower(level))
	if err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	var cfg zap.Config
	switch mode {
	case Dev, "":
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		cfg.DisableStacktrace = true
	case Prod:
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "ts"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	default:
		return nil, fmt.Errorf("log mode %q: want dev or prod", mode)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	return cfg.Build()
}

// SDK adapts a zap logger to the Temporal SDK's logger interface.
type SDK struct{ z *zap.Logger }

var (
	_ log.Logger          = (*SDK)(nil)
	_ log.WithLogger      = (*SDK)(nil)
	_ log.WithSkipCallers = (*SDK)(nil)
)

// NewSDK wraps z for client.Options.Logger.
func NewSDK(z *zap.Logger) *SDK {
	// One extra caller skip so zap reports the SDK's caller, not this adapter.
	return &SDK{z: z.WithOptions(zap.AddCallerSkip(1))}
}

func (l *SDK) Debug(msg string, kv ...any) { l.z.Debug(msg, fields(kv)...) }
func (l *SDK) Info(msg string, kv ...any)  { l.z.Info(msg, fields(kv)...) }
func (l *SDK) Warn(msg string, kv ...any)  { l.z.Warn(msg, fields(kv)...) }
func (l *SDK) Error(msg string, kv ...any) { l.z.Error(msg, fields(kv)...) }

// With returns a logger that adds kv to every entry.
func (l *SDK) With(kv ...any) log.Logger { return &SDK{z: l.z.With(fields(kv)...)} }

// WithCallerSkip returns a logger that skips n more stack frames.
func (l *SDK) WithCallerSkip(n int) log.Logger {
	return &SDK{z: l.z.WithOptions(zap.AddCallerSkip(n))}
}

// fields turns the SDK's alternating key/value list into zap fields; an odd
// trailing value is kept under "extra" rather than dropped.
func fields(kv []any) []zap.Field {
	out := make([]zap.Field, 0, (len(kv)+1)/2)
	for i := 0; i < len(kv); i += 2 {
		if i+1 == len(kv) {
			out = append(out, zap.Any("extra", kv[i]))
			break
		}
		key, ok := kv[i].(string)
		if !ok {
			key = fmt.Sprint(kv[i])
		}
		out = append(out, zap.Any(key, kv[i+1]))
	}
	return out
}

// Critical is the key/value pair that marks a paging-severity entry
// (CONTRACT.md#log-events). zap has no level above error that does not panic
// or exit, so severity is a field.
var Critical = []any{"severity", "CRITICAL"}
