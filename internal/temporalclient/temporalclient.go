// Package temporalclient holds the Temporal connection settings every
// inferflow binary shares and dials Temporal with them.
//
// The connection is read the way every Temporal tool reads it: the SDK's
// envconfig loads the profile from TEMPORAL_CONFIG_FILE (TEMPORAL_PROFILE)
// and applies the standard TEMPORAL_* variables; flags override that.
// Precedence: flag > environment > config-file profile > default.
package temporalclient

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/payloadkeys"
	"github.com/inferflow/inferflow/pkg/payloadcrypt"
)

// DefaultTaskQueue is where the worker listens and the starter sends work.
const DefaultTaskQueue = "inferflow"

// Settings are the connection settings, each declared once. Those marked
// External are read by envconfig, which hands the value to the flag as its
// default; the ones without a flag are listed for -h and the README.
var Settings = struct {
	Address                    envflag.Spec[string]
	Namespace                  envflag.Spec[string]
	APIKey                     envflag.Spec[string]
	TLSCertPath                envflag.Spec[string]
	TLSKeyPath                 envflag.Spec[string]
	TLSCAPath                  envflag.Spec[string]
	TLSServerName              envflag.Spec[string]
	TaskQueue                  envflag.Spec[string]
	DialTimeout                envflag.Spec[time.Duration]
	ConfigFile                 envflag.Spec[string]
	Profile                    envflag.Spec[string]
	TLS                        envflag.Spec[bool]
	TLSCertData                envflag.Spec[string]
	TLSKeyData                 envflag.Spec[string]
	TLSCAData                  envflag.Spec[string]
	TLSDisableHostVerification envflag.Spec[bool]
	Authority                  envflag.Spec[string]
	GRPCMeta                   envflag.Spec[string]
}{
	Address: envflag.Spec[string]{Flag: "address", Env: "TEMPORAL_ADDRESS", Default: "127.0.0.1:7233",
		Help: "Temporal frontend host:port", External: true, Check: envflag.HostPort},
	Namespace: envflag.Spec[string]{Flag: "namespace", Env: "TEMPORAL_NAMESPACE", Default: "default",
		Help: "Temporal namespace", External: true, Check: envflag.NotBlank},
	APIKey: envflag.Spec[string]{Flag: "api-key", Env: "TEMPORAL_API_KEY",
		Help: "API key (Temporal Cloud); implies TLS", External: true, Secret: true},
	TLSCertPath: envflag.Spec[string]{Flag: "tls-cert-path", Env: "TEMPORAL_TLS_CLIENT_CERT_PATH", Deprecated: []string{"TEMPORAL_TLS_CERT"},
		Help: "client certificate for mTLS (PEM file)", External: true},
	TLSKeyPath: envflag.Spec[string]{Flag: "tls-key-path", Env: "TEMPORAL_TLS_CLIENT_KEY_PATH", Deprecated: []string{"TEMPORAL_TLS_KEY"},
		Help: "client key for mTLS (PEM file)", External: true},
	TLSCAPath: envflag.Spec[string]{Flag: "tls-ca-path", Env: "TEMPORAL_TLS_SERVER_CA_CERT_PATH", Deprecated: []string{"TEMPORAL_TLS_CA"},
		Help: "CA bundle to verify the server (PEM file)", External: true},
	TLSServerName: envflag.Spec[string]{Flag: "tls-server-name", Env: "TEMPORAL_TLS_SERVER_NAME",
		Help: "server name to verify (enables TLS)", External: true},
	TaskQueue: envflag.Spec[string]{Flag: "task-queue", Env: "INFERFLOW_TASK_QUEUE", Default: DefaultTaskQueue,
		Help: "task queue of the inferflow worker", Check: envflag.NotBlank},
	DialTimeout: envflag.Spec[time.Duration]{Flag: "dial-timeout", Env: "INFERFLOW_DIAL_TIMEOUT", Deprecated: []string{"TEMPORAL_DIAL_TIMEOUT"},
		Default: 10 * time.Second, Help: "how long to wait for Temporal at start", Check: envflag.Positive[time.Duration]},
	ConfigFile: envflag.Spec[string]{Env: "TEMPORAL_CONFIG_FILE", External: true,
		Help: "TOML file of connection profiles (default: the user config dir's temporalio/temporal.toml, if present)"},
	Profile: envflag.Spec[string]{Env: "TEMPORAL_PROFILE", External: true,
		Help: "profile in the config file (default: default)"},
	TLS: envflag.Spec[bool]{Env: "TEMPORAL_TLS", External: true,
		Help: "true: use TLS with the system CAs; false: no TLS even with an API key"},
	TLSCertData: envflag.Spec[string]{Env: "TEMPORAL_TLS_CLIENT_CERT_DATA", External: true,
		Help: "client certificate PEM, instead of the path"},
	TLSKeyData: envflag.Spec[string]{Env: "TEMPORAL_TLS_CLIENT_KEY_DATA", External: true, Secret: true,
		Help: "client key PEM, instead of the path"},
	TLSCAData: envflag.Spec[string]{Env: "TEMPORAL_TLS_SERVER_CA_CERT_DATA", External: true,
		Help: "server CA PEM, instead of the path"},
	TLSDisableHostVerification: envflag.Spec[bool]{Env: "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", External: true,
		Help: "true skips verifying the server certificate (testing only)"},
	Authority: envflag.Spec[string]{Env: "TEMPORAL_CLIENT_AUTHORITY", External: true,
		Help: "gRPC :authority header"},
	GRPCMeta: envflag.Spec[string]{Env: "TEMPORAL_GRPC_META_*", External: true,
		Help: "gRPC metadata: TEMPORAL_GRPC_META_X_FOO=bar sends x-foo: bar"},
}

// Config is how to reach Temporal. Register fills it; a Config built in code
// (tests) works too.
type Config struct {
	Address       string
	Namespace     string
	APIKey        string
	TLSCertPath   string
	TLSKeyPath    string
	TLSCAPath     string
	TLSServerName string
	TaskQueue     string
	DialTimeout   time.Duration
	// Payloads are the keys that encrypt what this client puts in workflow
	// history (none: in clear).
	Payloads payloadkeys.Config

	// profile is what envconfig loaded, kept for the settings without a
	// field (TLS data, TEMPORAL_TLS, gRPC metadata, authority).
	profile envconfig.ClientConfigProfile
}

// Register loads the envconfig profile (config file, then TEMPORAL_*
// variables) from s's environment and adds the connection flags to s; a
// flag overrides what the profile holds.
func (c *Config) Register(s *envflag.Set) {
	env := aliasEnv{s: s, aliases: map[string][]string{}}
	for _, sp := range []envflag.Spec[string]{Settings.TLSCertPath, Settings.TLSKeyPath, Settings.TLSCAPath} {
		env.aliases[sp.Env] = sp.Deprecated
	}
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{EnvLookup: env})
	if err != nil {
		s.Fail(&envflag.Error{Setting: Settings.ConfigFile.Name() + " / " + Settings.Profile.Name(), Err: err})
	}
	c.profile = prof
	c.Address, c.Namespace, c.APIKey = prof.Address, prof.Namespace, prof.APIKey
	if tls := prof.TLS; tls != nil {
		c.TLSCertPath, c.TLSKeyPath, c.TLSCAPath, c.TLSServerName = tls.ClientCertPath, tls.ClientKeyPath, tls.ServerCACertPath, tls.ServerName
	}
	envflag.Var(s, &c.Address, Settings.Address)
	envflag.Var(s, &c.Namespace, Settings.Namespace)
	envflag.Var(s, &c.APIKey, Settings.APIKey)
	envflag.Var(s, &c.TLSCertPath, Settings.TLSCertPath)
	envflag.Var(s, &c.TLSKeyPath, Settings.TLSKeyPath)
	envflag.Var(s, &c.TLSCAPath, Settings.TLSCAPath)
	envflag.Var(s, &c.TLSServerName, Settings.TLSServerName)
	envflag.Var(s, &c.TaskQueue, Settings.TaskQueue)
	envflag.Var(s, &c.DialTimeout, Settings.DialTimeout)
	c.Payloads.Register(s)
	// Listed so -h and the README show them; envconfig read them above.
	for _, sp := range []envflag.Spec[string]{Settings.ConfigFile, Settings.Profile, Settings.TLSCertData, Settings.TLSKeyData, Settings.TLSCAData, Settings.Authority, Settings.GRPCMeta} {
		envflag.Doc(s, sp)
	}
	envflag.Doc(s, Settings.TLS)
	envflag.Doc(s, Settings.TLSDisableHostVerification)
	s.Check(func() error { return c.checkTogether() }) // c, not a copy taken now
}

// aliasEnv is the Set's environment for envconfig, also answering a
// standard name from its deprecated project-specific name, with a warning.
type aliasEnv struct {
	s       *envflag.Set
	aliases map[string][]string
}

func (e aliasEnv) Environ() []string { return e.s.Env().Environ() }

func (e aliasEnv) LookupEnv(key string) (string, bool) {
	if v, ok := e.s.Env().LookupEnv(key); ok {
		return v, true
	}
	for _, old := range e.aliases[key] {
		if v, ok := e.s.Env().LookupEnv(old); ok {
			e.s.Deprecate(old, key)
			return v, true
		}
	}
	return "", false
}

// Validate checks the settings and names the one that is wrong.
func (c Config) Validate() error {
	for _, err := range []error{
		Settings.Address.Validate(c.Address),
		Settings.Namespace.Validate(c.Namespace),
		Settings.TaskQueue.Validate(c.TaskQueue),
		Settings.DialTimeout.Validate(c.DialTimeout),
	} {
		if err != nil {
			return err
		}
	}
	return c.checkTogether()
}

// checkTogether checks the rules that span settings.
func (c Config) checkTogether() error {
	if (c.TLSCertPath == "") != (c.TLSKeyPath == "") {
		return Settings.TLSCertPath.Errorf("goes with %s: give both or neither", Settings.TLSKeyPath.Name())
	}
	for _, f := range []struct {
		sp   envflag.Spec[string]
		path string
	}{{Settings.TLSCertPath, c.TLSCertPath}, {Settings.TLSKeyPath, c.TLSKeyPath}, {Settings.TLSCAPath, c.TLSCAPath}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return f.sp.Errorf("%v", err)
		}
	}
	return nil
}

// ClientOptions are the SDK client options for these settings (without
// logger and metrics), for a binary that dials on its own. The data and
// failure converters encrypt payloads when keys are configured.
func (c Config) ClientOptions() (client.Options, error) {
	if err := c.Validate(); err != nil {
		return client.Options{}, err
	}
	p := c.profile
	p.Address, p.Namespace, p.APIKey = c.Address, c.Namespace, c.APIKey
	if p.TLS != nil || c.TLSCertPath != "" || c.TLSCAPath != "" || c.TLSServerName != "" {
		tls := envconfig.ClientConfigTLS{}
		if p.TLS != nil {
			tls = *p.TLS
		}
		tls.ClientCertPath, tls.ClientKeyPath = c.TLSCertPath, c.TLSKeyPath
		tls.ServerCACertPath, tls.ServerName = c.TLSCAPath, c.TLSServerName
		p.TLS = &tls
	}
	opts, err := p.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("TLS settings of the Temporal client (%s, %s, %s or TEMPORAL_TLS_*): %w",
			Settings.TLSCertPath.Name(), Settings.TLSKeyPath.Name(), Settings.TLSCAPath.Name(), err)
	}
	keys, err := c.Payloads.Keyring()
	if err != nil {
		return client.Options{}, err
	}
	return payloadcrypt.ClientOptions(opts, keys), nil
}

// Dial connects to Temporal, waiting up to DialTimeout for the server. The
// interceptors (tracing) also apply to the workers built on the client.
func (c Config) Dial(ctx context.Context, logger log.Logger, metrics client.MetricsHandler, interceptors ...interceptor.ClientInterceptor) (client.Client, error) {
	opts, err := c.ClientOptions()
	if err != nil {
		return nil, err
	}
	opts.Logger, opts.MetricsHandler = logger, metrics
	if keys, _ := c.Payloads.Keyring(); keys != nil { // loaded by ClientOptions
		opts = payloadcrypt.ClientOptions(opts, keys) // again, logging keys that fail
	}
	opts.Interceptors = append(opts.Interceptors, interceptors...)
	ctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
	defer cancel()
	for {
		cl, err := client.DialContext(ctx, opts)
		if err == nil {
			return cl, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cannot reach Temporal at %s (namespace %q): %w\n"+
				"  start a dev server with `make dev-server` (or `make run`), or set %s", c.Address, c.Namespace, err, Settings.Address.Name())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (c Config) apiKeyState() string {
	if c.APIKey == "" && c.profile.APIKey == "" {
		return "unset"
	}
	return "set"
}

// String describes the settings without the API key or key material.
func (c Config) String() string {
	return fmt.Sprintf("temporalclient.Config{Address:%s Namespace:%s TaskQueue:%s APIKey:%s TLSCertPath:%q TLSKeyPath:%q TLSCAPath:%q TLSServerName:%q DialTimeout:%s Payloads:%s}",
		c.Address, c.Namespace, c.TaskQueue, c.apiKeyState(), c.TLSCertPath, c.TLSKeyPath, c.TLSCAPath, c.TLSServerName, c.DialTimeout, c.Payloads)
}

// GoString keeps %#v from printing the key.
func (c Config) GoString() string { return c.String() }

// MarshalJSON renders the redacted view, so reflection-based loggers
// (zap.Any, JSON dumps) cannot print the key.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"address": c.Address, "namespace": c.Namespace, "taskQueue": c.TaskQueue, "apiKey": c.apiKeyState(),
		"tlsCertPath": c.TLSCertPath, "tlsKeyPath": c.TLSKeyPath, "tlsCAPath": c.TLSCAPath,
		"tlsServerName": c.TLSServerName, "dialTimeout": c.DialTimeout.String(),
	})
}

// LogValue implements slog.LogValuer without the API key.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("address", c.Address), slog.String("namespace", c.Namespace),
		slog.String("task_queue", c.TaskQueue), slog.String("api_key", c.apiKeyState()),
		slog.String("tls_cert_path", c.TLSCertPath), slog.String("tls_ca_path", c.TLSCAPath),
	)
}
