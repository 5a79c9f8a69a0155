// Package payloadkeys holds the binaries' payload encryption settings:
// where the keys of pkg/payloadcrypt come from (every Temporal client of the
// project reads them, through internal/temporalclient) and the codec server
// the worker serves for the Web UI and the CLI.
package payloadkeys

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/pkg/payloadcrypt"
)

// Settings are the payload encryption settings, each declared once: the
// keys (every Temporal client of the project reads them) and the codec
// server (the worker serves it).
var Settings = struct {
	KeysFile     envflag.Spec[string]
	Keys         envflag.Spec[string]
	CodecAddr    envflag.Spec[string]
	CodecOrigins envflag.Spec[string]
	CodecToken   envflag.Spec[string]
}{
	KeysFile: envflag.Spec[string]{Flag: "payload-keys-file", Env: "INFERFLOW_PAYLOAD_KEYS_FILE",
		Help: "file of payload encryption keys, a line id:base64key each (32 bytes), the first encrypts; empty = payloads in clear"},
	Keys: envflag.Spec[string]{Env: "INFERFLOW_PAYLOAD_KEYS", Secret: true,
		Help: "payload encryption keys id:base64key,..., the first encrypts (instead of the file)"},
	CodecAddr: envflag.Spec[string]{Flag: "codec-addr", Env: "INFERFLOW_CODEC_ADDR", Default: "127.0.0.1:8089",
		Help: "codec server listen address for the Web UI and the CLI, with payload keys (empty disables)", Check: envflag.Optional(envflag.HostPort)},
	CodecOrigins: envflag.Spec[string]{Flag: "codec-origins", Env: "INFERFLOW_CODEC_ORIGINS", Default: "http://localhost:8233,http://127.0.0.1:8233",
		Help: "Web UI origins the codec server answers (CORS), comma-separated", Check: checkOrigins},
	CodecToken: envflag.Spec[string]{Env: "INFERFLOW_CODEC_TOKEN", Secret: true,
		Help: "when set, the codec server requires Authorization: Bearer <token>"},
}

func checkOrigins(v string) error {
	for o := range strings.SplitSeq(v, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if err := envflag.HTTPURL(o); err != nil {
			return fmt.Errorf("origin %q: %w", o, err)
		}
	}
	return nil
}

// Config says where a process's payload keys come from. Neither set means
// no encryption.
type Config struct {
	KeysFile string
	Keys     string // key material: never printed (see String)
}

// Register adds the key settings to s and checks, at Parse, that the keys
// load.
func (c *Config) Register(s *envflag.Set) {
	envflag.Var(s, &c.KeysFile, Settings.KeysFile)
	envflag.Var(s, &c.Keys, Settings.Keys)
	s.Check(func() error { _, err := c.Keyring(); return err })
}

// Keyring loads the configured keys; nil (no encryption) when none is
// configured. Errors name the setting, never the key.
func (c Config) Keyring() (*payloadcrypt.Keyring, error) {
	switch {
	case c.KeysFile != "" && c.Keys != "":
		return nil, Settings.Keys.Errorf("give the keys or %s, not both", Settings.KeysFile.Name())
	case c.KeysFile != "":
		k, err := payloadcrypt.LoadFile(c.KeysFile)
		if err != nil {
			return nil, Settings.KeysFile.Errorf("%w", err)
		}
		return k, nil
	case c.Keys != "":
		k, err := payloadcrypt.ParseKeys(c.Keys)
		if err != nil {
			return nil, Settings.Keys.Errorf("%w", err)
		}
		return k, nil
	}
	return nil, nil
}

func (c Config) keysState() string {
	if c.Keys == "" {
		return "unset"
	}
	return "set"
}

// String describes the configuration without the keys.
func (c Config) String() string {
	return fmt.Sprintf("payloadkeys.Config{KeysFile:%q Keys:%s}", c.KeysFile, c.keysState())
}

// GoString keeps %#v from printing the keys.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the keys.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("keys_file", c.KeysFile), slog.String("keys", c.keysState()))
}

// MarshalJSON renders the redacted view.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"keysFile": c.KeysFile, "keys": c.keysState()})
}

// ServerConfig is the codec server's configuration (the worker's).
type ServerConfig struct {
	Addr    string
	Origins string
	Token   string // never printed
}

// Register adds the codec server settings to s.
func (c *ServerConfig) Register(s *envflag.Set) {
	envflag.Var(s, &c.Addr, Settings.CodecAddr)
	envflag.Var(s, &c.Origins, Settings.CodecOrigins)
	envflag.Var(s, &c.Token, Settings.CodecToken)
}

// OriginList is Origins split.
func (c ServerConfig) OriginList() []string {
	var out []string
	for o := range strings.SplitSeq(c.Origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, strings.TrimSuffix(o, "/"))
		}
	}
	return out
}

// ErrNoKeys is returned by a codec server asked to run without keys.
var ErrNoKeys = errors.New("codec server: no payload keys configured")
