package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// With payload keys the worker serves the codec server and logs the key
// ids (never a key); without keys it serves nothing.
func TestServeCodec(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		serve bool
	}{
		{name: "no keys", args: []string{"--codec-addr", "127.0.0.1:0"}},
		{name: "keys", env: map[string]string{"INFERFLOW_PAYLOAD_KEYS": "w1:" + key}, args: []string{"--codec-addr", "127.0.0.1:0"}, serve: true},
		{name: "keys, codec server off", env: map[string]string{"INFERFLOW_PAYLOAD_KEYS": "w1:" + key}, args: []string{"--codec-addr", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := parseConfig(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zap.InfoLevel)
			stop, err := serveCodec(cfg, zap.New(core))
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			var url string
			for _, e := range logs.All() {
				if strings.Contains(e.Message+fmt.Sprint(e.ContextMap()), key[:12]) {
					t.Fatalf("logged the key: %v", e)
				}
				if e.Message == "codec server listening" {
					url = e.ContextMap()["url"].(string)
				}
			}
			if (url != "") != tt.serve {
				t.Fatalf("codec server url %q, want served %v", url, tt.serve)
			}
			if url == "" {
				return
			}
			resp, err := http.Post(url+"/decode", "application/json", strings.NewReader(`{"payloads":[]}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("decode: %s", resp.Status)
			}
		})
	}
}
