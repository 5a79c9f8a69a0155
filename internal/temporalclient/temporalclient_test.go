package temporalclient

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/inferflow/inferflow/internal/envflag"
)

// payloadKey is a payload key (base64 of 32 bytes) to look for in output.
const payloadKey = "c2VjcmV0LXBheWxvYWQta2V5LTMyLWJ5dGVzLWxvbmc="

func TestValidateNamesTheSetting(t *testing.T) {
	ok := Config{Address: "127.0.0.1:7233", Namespace: "default", TaskQueue: "q", DialTimeout: time.Second}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"valid", func(*Config) {}, ""},
		{"address without port", func(c *Config) { c.Address = "localhost" }, `--address (TEMPORAL_ADDRESS) "localhost": want host:port`},
		{"empty namespace", func(c *Config) { c.Namespace = " " }, "--namespace (TEMPORAL_NAMESPACE)"},
		{"empty task queue", func(c *Config) { c.TaskQueue = "" }, "--task-queue (INFERFLOW_TASK_QUEUE)"},
		{"cert without key", func(c *Config) { c.TLSCertPath = "c.pem" }, "--tls-key-path (TEMPORAL_TLS_CLIENT_KEY_PATH)"},
		{"missing CA file", func(c *Config) { c.TLSCAPath = "/no/such/ca.pem" }, "--tls-ca-path (TEMPORAL_TLS_SERVER_CA_CERT_PATH)"},
		{"zero dial timeout", func(c *Config) { c.DialTimeout = 0 }, "--dial-timeout (INFERFLOW_DIAL_TIMEOUT)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name %s", err, tt.want)
			}
		})
	}
}

// pki writes a self-signed certificate and key, returning their paths and PEM.
func pki(t *testing.T) (certPath, keyPath string, certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	for p, b := range map[string][]byte{certPath: certPEM, keyPath: keyPEM} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certPath, keyPath, certPEM, keyPEM
}

// parse registers a Config on a Set over env and parses args. The config
// file defaults to a path that does not exist, so the developer's own
// ~/.config/temporalio/temporal.toml never leaks in.
func parse(t *testing.T, env envflag.Map, args ...string) (Config, string, error) {
	t.Helper()
	if env == nil {
		env = envflag.Map{}
	}
	if _, ok := env["TEMPORAL_CONFIG_FILE"]; !ok {
		env["TEMPORAL_CONFIG_FILE"] = filepath.Join(t.TempDir(), "absent.toml")
	}
	s := envflag.NewWithEnv("test", env)
	var out bytes.Buffer
	s.SetOutput(&out)
	var c Config
	c.Register(s)
	err := s.Parse(args)
	return c, out.String(), err
}

func TestPrecedence(t *testing.T) {
	certPath, keyPath, _, _ := pki(t)
	file := filepath.Join(t.TempDir(), "temporal.toml")
	toml := `
[profile.default]
address = "file-default:7233"
namespace = "file-ns"

[profile.cloud]
address = "cloud.example:7233"
namespace = "cloud-ns"
api_key = "file-key"
`
	if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      envflag.Map
		args     []string
		want     Config
		warnings string
	}{
		{name: "defaults", want: Config{Address: "127.0.0.1:7233", Namespace: "default"}},
		{name: "config file default profile", env: envflag.Map{"TEMPORAL_CONFIG_FILE": file},
			want: Config{Address: "file-default:7233", Namespace: "file-ns"}},
		{name: "config file named profile", env: envflag.Map{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "cloud"},
			want: Config{Address: "cloud.example:7233", Namespace: "cloud-ns", APIKey: "file-key"}},
		{name: "environment over file", env: envflag.Map{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_ADDRESS": "env:7233"},
			want: Config{Address: "env:7233", Namespace: "file-ns"}},
		{name: "flag over environment", env: envflag.Map{"TEMPORAL_ADDRESS": "env:7233", "TEMPORAL_NAMESPACE": "env-ns"},
			args: []string{"--address", "flag:7233"}, want: Config{Address: "flag:7233", Namespace: "env-ns"}},
		{name: "standard TLS names", env: envflag.Map{
			"TEMPORAL_TLS_CLIENT_CERT_PATH": certPath, "TEMPORAL_TLS_CLIENT_KEY_PATH": keyPath,
			"TEMPORAL_TLS_SERVER_CA_CERT_PATH": certPath, "TEMPORAL_TLS_SERVER_NAME": "srv", "TEMPORAL_API_KEY": "env-key"},
			want: Config{Address: "127.0.0.1:7233", Namespace: "default", APIKey: "env-key",
				TLSCertPath: certPath, TLSKeyPath: keyPath, TLSCAPath: certPath, TLSServerName: "srv"}},
		{name: "deprecated TLS names", env: envflag.Map{"TEMPORAL_TLS_CERT": certPath, "TEMPORAL_TLS_KEY": keyPath, "TEMPORAL_TLS_CA": certPath},
			want:     Config{Address: "127.0.0.1:7233", Namespace: "default", TLSCertPath: certPath, TLSKeyPath: keyPath, TLSCAPath: certPath},
			warnings: "TEMPORAL_TLS_CERT is deprecated and will be removed; use TEMPORAL_TLS_CLIENT_CERT_PATH"},
		{name: "standard name wins over deprecated", env: envflag.Map{"TEMPORAL_TLS_CA": "/old", "TEMPORAL_TLS_SERVER_CA_CERT_PATH": certPath},
			want: Config{Address: "127.0.0.1:7233", Namespace: "default", TLSCAPath: certPath}},
		{name: "task queue and dial timeout", env: envflag.Map{"INFERFLOW_TASK_QUEUE": "q2", "TEMPORAL_DIAL_TIMEOUT": "3s"},
			want:     Config{Address: "127.0.0.1:7233", Namespace: "default", TaskQueue: "q2", DialTimeout: 3 * time.Second},
			warnings: "TEMPORAL_DIAL_TIMEOUT is deprecated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, out, err := parse(t, tt.env, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.TaskQueue == "" {
				tt.want.TaskQueue = DefaultTaskQueue
			}
			if tt.want.DialTimeout == 0 {
				tt.want.DialTimeout = 10 * time.Second
			}
			got.profile = tt.want.profile // compared through ClientOptions below
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
			if got.APIKey != tt.want.APIKey {
				t.Errorf("api key %q, want %q", got.APIKey, tt.want.APIKey)
			}
			if !strings.Contains(out, tt.warnings) || (tt.warnings == "" && out != "") {
				t.Errorf("output %q, want %q", out, tt.warnings)
			}
		})
	}
}

func TestClientOptionsFromStandardVariables(t *testing.T) {
	certPath, keyPath, certPEM, keyPEM := pki(t)
	tests := []struct {
		name  string
		env   envflag.Map
		args  []string
		check func(t *testing.T, c Config) error
	}{
		{"plain", nil, nil, func(t *testing.T, c Config) error {
			opts, err := c.ClientOptions()
			if err != nil || opts.ConnectionOptions.TLS != nil || opts.HostPort != "127.0.0.1:7233" || opts.Credentials != nil {
				return fmt.Errorf("opts %+v, %v", opts.ConnectionOptions, err)
			}
			return nil
		}},
		{"api key implies TLS", envflag.Map{"TEMPORAL_API_KEY": "k"}, nil, func(t *testing.T, c Config) error {
			opts, err := c.ClientOptions()
			if err != nil || opts.ConnectionOptions.TLS == nil || opts.Credentials == nil {
				return fmt.Errorf("opts %+v, %v", opts.ConnectionOptions, err)
			}
			return nil
		}},
		{"TEMPORAL_TLS=false disables TLS", envflag.Map{"TEMPORAL_API_KEY": "k", "TEMPORAL_TLS": "false"}, nil, func(t *testing.T, c Config) error {
			opts, err := c.ClientOptions()
			if err != nil || !opts.ConnectionOptions.TLSDisabled {
				return fmt.Errorf("opts %+v, %v", opts.ConnectionOptions, err)
			}
			return nil
		}},
		{"mTLS from paths, flag overrides server name", envflag.Map{"TEMPORAL_TLS_CLIENT_CERT_PATH": certPath,
			"TEMPORAL_TLS_CLIENT_KEY_PATH": keyPath, "TEMPORAL_TLS_SERVER_CA_CERT_PATH": certPath, "TEMPORAL_TLS_SERVER_NAME": "env"},
			[]string{"--tls-server-name", "flag"}, func(t *testing.T, c Config) error {
				opts, err := c.ClientOptions()
				if err != nil {
					return err
				}
				tls := opts.ConnectionOptions.TLS
				if tls == nil || len(tls.Certificates) != 1 || tls.RootCAs == nil || tls.ServerName != "flag" {
					return fmt.Errorf("tls %+v", tls)
				}
				return nil
			}},
		{"mTLS from PEM data", envflag.Map{"TEMPORAL_TLS_CLIENT_CERT_DATA": string(certPEM), "TEMPORAL_TLS_CLIENT_KEY_DATA": string(keyPEM)},
			nil, func(t *testing.T, c Config) error {
				opts, err := c.ClientOptions()
				if err != nil || opts.ConnectionOptions.TLS == nil || len(opts.ConnectionOptions.TLS.Certificates) != 1 {
					return fmt.Errorf("opts %+v, %v", opts.ConnectionOptions, err)
				}
				return nil
			}},
		{"gRPC metadata and authority", envflag.Map{"TEMPORAL_GRPC_META_X_TENANT": "t1", "TEMPORAL_CLIENT_AUTHORITY": "auth"},
			nil, func(t *testing.T, c Config) error {
				opts, err := c.ClientOptions()
				if err != nil || opts.HeadersProvider == nil || opts.ConnectionOptions.Authority != "auth" {
					return fmt.Errorf("opts %+v, %v", opts, err)
				}
				h, _ := opts.HeadersProvider.GetHeaders(context.Background())
				if h["x-tenant"] != "t1" {
					return fmt.Errorf("headers %v", h)
				}
				return nil
			}},
		{"payload keys encrypt what the client sends", envflag.Map{"INFERFLOW_PAYLOAD_KEYS": "k1:" + payloadKey},
			nil, func(t *testing.T, c Config) error {
				opts, err := c.ClientOptions()
				if err != nil || opts.DataConverter == nil || opts.FailureConverter == nil {
					return fmt.Errorf("opts %+v, %v", opts, err)
				}
				p, err := opts.DataConverter.ToPayload("a prompt")
				if err != nil || string(p.Metadata["encryption-key-id"]) != "k1" || bytes.Contains(p.Data, []byte("a prompt")) {
					return fmt.Errorf("payload %v, %v", p, err)
				}
				return nil
			}},
		{"no payload keys: in clear", nil, nil, func(t *testing.T, c Config) error {
			opts, err := c.ClientOptions()
			if err != nil {
				return err
			}
			p, err := opts.DataConverter.ToPayload("a prompt")
			if err != nil || !bytes.Contains(p.Data, []byte("a prompt")) || opts.FailureConverter != nil {
				return fmt.Errorf("payload %v, %v", p, err)
			}
			return nil
		}},
		{"bad key file names the TLS settings", envflag.Map{"TEMPORAL_TLS_CLIENT_CERT_PATH": certPath, "TEMPORAL_TLS_CLIENT_KEY_PATH": certPath},
			nil, func(t *testing.T, c Config) error {
				_, err := c.ClientOptions()
				if err == nil || !strings.Contains(err.Error(), "--tls-cert-path (TEMPORAL_TLS_CLIENT_CERT_PATH)") {
					return fmt.Errorf("err = %v", err)
				}
				return nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := parse(t, tt.env, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.check(t, c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseErrorsNameTheSetting(t *testing.T) {
	tests := []struct {
		name string
		env  envflag.Map
		args []string
		want string
	}{
		{"bad address flag", nil, []string{"--address", "nohostport"}, `--address (TEMPORAL_ADDRESS) "nohostport": want host:port`},
		{"bad address variable", envflag.Map{"TEMPORAL_ADDRESS": "nohostport"}, nil, "--address (TEMPORAL_ADDRESS)"},
		{"cert without key", envflag.Map{"TEMPORAL_TLS_CLIENT_CERT_PATH": "c.pem"}, nil, "TEMPORAL_TLS_CLIENT_KEY_PATH"},
		{"cert flag without key", nil, []string{"--tls-cert-path", "c.pem"}, "TEMPORAL_TLS_CLIENT_KEY_PATH"},
		{"missing CA file by flag", nil, []string{"--tls-ca-path", "/no/such/ca.pem"}, "--tls-ca-path (TEMPORAL_TLS_SERVER_CA_CERT_PATH): stat /no/such/ca.pem"},
		{"bad dial timeout", envflag.Map{"INFERFLOW_DIAL_TIMEOUT": "soon"}, nil, `--dial-timeout (INFERFLOW_DIAL_TIMEOUT) "soon"`},
		{"negative dial timeout", nil, []string{"--dial-timeout", "-1s"}, "--dial-timeout (INFERFLOW_DIAL_TIMEOUT)"},
		{"unknown profile", envflag.Map{"TEMPORAL_PROFILE": "nope"}, nil, "TEMPORAL_CONFIG_FILE / TEMPORAL_PROFILE"},
		{"missing payload key file", nil, []string{"--payload-keys-file", "/no/such/keys"}, "--payload-keys-file (INFERFLOW_PAYLOAD_KEYS_FILE): open /no/such/keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parse(t, tt.env, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestAPIKeyNeverPrinted(t *testing.T) {
	const secret = "tmprl-very-secret"
	env := envflag.Map{"TEMPORAL_API_KEY": secret, "TEMPORAL_TLS_CLIENT_KEY_DATA": "-----BEGIN secret-pem", "INFERFLOW_PAYLOAD_KEYS": "k1:" + payloadKey}
	c, help, err := parse(t, env, "-h")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	if c.APIKey != secret {
		t.Fatalf("key not read: %q", c.APIKey)
	}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "temporal", c)
	js, _ := json.Marshal(c)
	for name, s := range map[string]string{
		"-h": help, "String": c.String(), "%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c),
		"%#v": fmt.Sprintf("%#v", c), "json": string(js), "slog": logs.String(),
	} {
		if strings.Contains(s, secret) || strings.Contains(s, "secret-pem") || strings.Contains(s, payloadKey) {
			t.Errorf("%s leaks a secret: %s", name, s)
		}
	}
	if !strings.Contains(c.String(), "APIKey:set") {
		t.Errorf("String should say the key is set: %s", c)
	}
	if !strings.Contains(help, "--api-key string  (env TEMPORAL_API_KEY)") {
		t.Errorf("-h lacks the api key flag:\n%s", help)
	}
}
