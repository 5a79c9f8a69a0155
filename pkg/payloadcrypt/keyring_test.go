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

// The keyring prints ids only, however they are
// logged.
func TestKeysNeverPrinted(t *testing.T) {
	secret := fixedKey(9)
	k := ring(t, "k1:"+secret, "k0:"+fixedKey(8))
	var buf bytes.Buffer
	for _, v := range []any{k, *k} {
		fmt.Fprintf(&buf, "%v %+v %#v %s\n", v, v, v, v)
		b, _ := json.Marshal(v)
		buf.Write(b)
	}
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("keys", "ring", k)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("keys", "ring", k)
	z := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zap.DebugLevel))
	z.Info("keys", zap.Any("ring", k), zap.Stringer("s", k))
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
