package temporalclient

import (
	"strings"
	"testing"
	"time"
)

func TestValidateNamesTheSetting(t *testing.T) {
	ok := Config{Address: "127.0.0.1:7233", Namespace: "default", TaskQueue: "q", DialTimeout: time.Second}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"valid", func(*Config) {}, ""},
		{"address without port", func(c *Config) { c.Address = "localhost" }, "TEMPORAL_ADDRESS"},
		{"empty namespace", func(c *Config) { c.Namespace = " " }, "TEMPORAL_NAMESPACE"},
		{"empty task queue", func(c *Config) { c.TaskQueue = "" }, "INFERFLOW_TASK_QUEUE"},
		{"cert without key", func(c *Config) { c.TLSCert = "c.pem" }, "TEMPORAL_TLS_KEY"},
		{"zero dial timeout", func(c *Config) { c.DialTimeout = 0 }, "TEMPORAL_DIAL_TIMEOUT"},
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

func TestTLSConfigErrors(t *testing.T) {
	c := Config{TLSCA: "/no/such/ca.pem"}
	if _, err := c.tlsConfig(); err == nil || !strings.Contains(err.Error(), "--tls-ca-path") {
		t.Fatalf("err = %v", err)
	}
	c = Config{APIKey: "k"}
	cfg, err := c.tlsConfig()
	if err != nil || cfg == nil {
		t.Fatalf("an API key implies TLS: %v, %v", cfg, err)
	}
	c = Config{}
	if cfg, err := c.tlsConfig(); err != nil || cfg != nil {
		t.Fatalf("no TLS settings means plain connection: %v, %v", cfg, err)
	}
}
