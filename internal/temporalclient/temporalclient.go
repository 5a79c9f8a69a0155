// Package temporalclient holds the Temporal connection settings shared by
// the worker and the starter (flags with environment defaults) and dials.
package temporalclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/inferflow/inferflow/internal/envflag"
)

// DefaultTaskQueue is where the worker listens and the starter sends work.
const DefaultTaskQueue = "inferflow"

// Config is how to reach Temporal.
type Config struct {
	Address       string
	Namespace     string
	TaskQueue     string
	TLSCert       string
	TLSKey        string
	TLSCA         string
	TLSServerName string
	APIKey        string
	DialTimeout   time.Duration
}

// Register adds the connection flags to s.
func (c *Config) Register(s *envflag.Set) {
	s.String(&c.Address, "address", "TEMPORAL_ADDRESS", "127.0.0.1:7233", "Temporal frontend host:port")
	s.String(&c.Namespace, "namespace", "TEMPORAL_NAMESPACE", "default", "Temporal namespace")
	s.String(&c.TaskQueue, "task-queue", "INFERFLOW_TASK_QUEUE", DefaultTaskQueue, "task queue of the inferflow worker")
	s.String(&c.TLSCert, "tls-cert-path", "TEMPORAL_TLS_CERT", "", "client certificate for mTLS")
	s.String(&c.TLSKey, "tls-key-path", "TEMPORAL_TLS_KEY", "", "client key for mTLS")
	s.String(&c.TLSCA, "tls-ca-path", "TEMPORAL_TLS_CA", "", "CA bundle to verify the server")
	s.String(&c.TLSServerName, "tls-server-name", "TEMPORAL_TLS_SERVER_NAME", "", "server name to verify")
	s.String(&c.APIKey, "api-key", "TEMPORAL_API_KEY", "", "API key (Temporal Cloud); implies TLS")
	s.Duration(&c.DialTimeout, "dial-timeout", "TEMPORAL_DIAL_TIMEOUT", 10*time.Second, "how long to wait for Temporal at start")
}

// Validate checks the settings and names the one that is wrong.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return fmt.Errorf("--address (TEMPORAL_ADDRESS) %q: want host:port", c.Address)
	}
	if strings.TrimSpace(c.Namespace) == "" {
		return errors.New("--namespace (TEMPORAL_NAMESPACE) must not be empty")
	}
	if strings.TrimSpace(c.TaskQueue) == "" {
		return errors.New("--task-queue (INFERFLOW_TASK_QUEUE) must not be empty")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert-path (TEMPORAL_TLS_CERT) and --tls-key-path (TEMPORAL_TLS_KEY) go together: give both or neither")
	}
	if c.DialTimeout <= 0 {
		return errors.New("--dial-timeout (TEMPORAL_DIAL_TIMEOUT) must be positive")
	}
	return nil
}

func (c Config) tlsConfig() (*tls.Config, error) {
	if c.TLSCert == "" && c.TLSCA == "" && c.APIKey == "" {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: c.TLSServerName, MinVersion: tls.VersionTLS12}
	if c.TLSCert != "" {
		pair, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert-path/--tls-key-path: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca-path: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca-path %s: no PEM certificates found", c.TLSCA)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Dial connects to Temporal, waiting up to DialTimeout for the server.
func (c Config) Dial(ctx context.Context, logger log.Logger, metrics client.MetricsHandler) (client.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	opts := client.Options{
		HostPort:       c.Address,
		Namespace:      c.Namespace,
		Logger:         logger,
		MetricsHandler: metrics,
		ConnectionOptions: client.ConnectionOptions{
			TLS: tlsCfg,
		},
	}
	if c.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(c.APIKey)
	}
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
				"  start a dev server with `make dev-server` (or `make run`), or set --address / TEMPORAL_ADDRESS", c.Address, c.Namespace, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
