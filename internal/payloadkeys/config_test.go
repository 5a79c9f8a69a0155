package payloadkeys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inferflow/inferflow/internal/envflag"
)

// fixedKey is a known key, so tests can look for it in output.
func fixedKey(b byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32))
}

func TestConfigKeyring(t *testing.T) {
	secret := fixedKey(5)
	dir := t.TempDir()
	good := filepath.Join(dir, "keys")
	if err := os.WriteFile(good, []byte("f1:"+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("f1:"+secret[:30]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		env    envflag.Map
		args   []string
		active string
		err    string
	}{
		{"none", nil, nil, "", ""},
		{"file by flag", nil, []string{"-payload-keys-file", good}, "f1", ""},
		{"file by env", envflag.Map{"INFERFLOW_PAYLOAD_KEYS_FILE": good}, nil, "f1", ""},
		{"keys by env", envflag.Map{"INFERFLOW_PAYLOAD_KEYS": "e1:" + secret + ",e0:" + fixedKey(6)}, nil, "e1", ""},
		{"both", envflag.Map{"INFERFLOW_PAYLOAD_KEYS": "e1:" + secret}, []string{"-payload-keys-file", good}, "", "not both"},
		{"missing file", nil, []string{"-payload-keys-file", filepath.Join(dir, "absent")}, "", "--payload-keys-file (INFERFLOW_PAYLOAD_KEYS_FILE): open"},
		{"bad file", nil, []string{"-payload-keys-file", bad}, "", `key entry 1 (id "f1")`},
		{"bad env keys", envflag.Map{"INFERFLOW_PAYLOAD_KEYS": "e1:" + secret[:30]}, nil, "", `INFERFLOW_PAYLOAD_KEYS: key entry 1 (id "e1")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			s := envflag.NewWithEnv("test", tt.env)
			c.Register(s)
			err := s.Parse(tt.args)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), secret[:30]) {
					t.Fatalf("err shows the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k, err := c.Keyring()
			if err != nil || k.Active() != tt.active {
				t.Fatalf("keyring %v, %v; want active %q", k, err, tt.active)
			}
		})
	}
}

func TestConfigNeverPrintsKeys(t *testing.T) {
	secret := fixedKey(9)
	cfg := Config{KeysFile: "/etc/keys", Keys: "k1:" + secret}
	var buf bytes.Buffer
	for _, v := range []any{cfg, &cfg} {
		fmt.Fprintf(&buf, "%v %+v %#v %s\n", v, v, v, v)
		b, _ := json.Marshal(v)
		buf.Write(b)
	}
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "payloads", cfg)
	if out := buf.String(); strings.Contains(out, secret[:16]) || !strings.Contains(out, "/etc/keys") {
		t.Fatalf("printed:\n%s", out)
	}
}
