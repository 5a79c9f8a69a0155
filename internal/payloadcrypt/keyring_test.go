package payloadcrypt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/inferflow/inferflow/internal/envflag"
)

func TestParseKeys(t *testing.T) {
	k1, k2 := fixedKey(1), fixedKey(2)
	tests := []struct {
		name   string
		text   string
		active string
		ids    []string
	}{
		{"one line", "k1:" + k1, "k1", []string{"k1"}},
		{"lines, comments, blanks", "# keys\n\nnew:" + k2 + "\n  old : " + k1 + "  \n", "new", []string{"new", "old"}},
		{"comma-separated", "a.1:" + k1 + ", b_2:" + k2, "a.1", []string{"a.1", "b_2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKeys(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if k.Active() != tt.active || !slices.Equal(k.IDs(), tt.ids) {
				t.Fatalf("active %q ids %v", k.Active(), k.IDs())
			}
		})
	}
}

func TestParseKeysErrorsHideTheKey(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 15))
	tests := []struct{ name, text, want string }{
		{"empty", "# nothing\n", "no key"},
		{"no colon", fixedKey(3), "key entry 1: want id:base64key"},
		{"bad id", "bad id:" + fixedKey(3), "key entry 1: key id must be"},
		{"duplicate id", "a:" + fixedKey(3) + "\na:" + fixedKey(4), `key entry 2: key id "a" given twice`},
		{"not base64", "a:" + fixedKey(3)[:10] + "!!!" + fixedKey(3)[13:], `key entry 1 (id "a"): key is not standard base64`},
		{"wrong size", "a:" + short, `key entry 1 (id "a"): key is 15 bytes, want 32`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKeys(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			for _, secret := range []string{fixedKey(3), fixedKey(3)[:10], fixedKey(4), short} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("err shows key material: %q", err)
				}
			}
		})
	}
}

// The keyring and the config print ids and paths only, however they are
// logged.
func TestKeysNeverPrinted(t *testing.T) {
	secret := fixedKey(9)
	k := ring(t, "k1:"+secret, "k0:"+fixedKey(8))
	cfg := Config{Keys: "k1:" + secret}
	var buf bytes.Buffer
	for _, v := range []any{k, *k, cfg, &cfg} {
		fmt.Fprintf(&buf, "%v %+v %#v %s\n", v, v, v, v)
		b, _ := json.Marshal(v)
		buf.Write(b)
	}
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("keys", "ring", k, "cfg", cfg)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("keys", "ring", k, "cfg", cfg)
	z := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zap.DebugLevel))
	z.Info("keys", zap.Any("ring", k), zap.Any("cfg", cfg), zap.Stringer("s", k))
	out := buf.String()
	raw, _ := json.Marshal([]byte(strings.Repeat("\x09", KeySize)))
	for _, bad := range []string{secret, secret[:16], strings.Trim(string(raw), `"`)} {
		if strings.Contains(out, bad) {
			t.Fatalf("key material printed:\n%s", out)
		}
	}
	if !strings.Contains(out, "k1") || !strings.Contains(out, "k0") {
		t.Fatalf("ids missing:\n%s", out)
	}
}

func TestEnsureKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".inferflow", "dev-keys")
	now := time.Date(2026, 12, 2, 15, 4, 5, 0, time.UTC)
	created, err := EnsureKeyFile(path, now)
	if err != nil || !created {
		t.Fatalf("created %v, %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	k, err := LoadFile(path)
	if err != nil || k.Active() != "dev-20261202-150405" {
		t.Fatalf("keys %v, %v", k, err)
	}
	before, _ := os.ReadFile(path)
	if created, err := EnsureKeyFile(path, now.Add(time.Hour)); err != nil || created {
		t.Fatalf("second call: created %v, %v", created, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("an existing key file was rewritten")
	}
	a, _ := NewKeyEntry("x")
	b, _ := NewKeyEntry("x")
	if a == b {
		t.Fatal("two generated keys are equal")
	}
	if _, err := NewKeyEntry("no spaces"); err == nil {
		t.Fatal("a bad id must fail")
	}
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
