package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// A leak is a secret found in an output.
type leak struct {
	secret string // the secret's name, never its value
	output string // where it was found
	form   string // how it was written: raw, base64, url, hex
}

func (l leak) String() string { return fmt.Sprintf("%s in %s (%s)", l.secret, l.output, l.form) }

// secretForms are the ways a secret can be written into an output by code
// that did not mean to: as it is, JSON-escaped (Go escapes &, <, >),
// URL-encoded (a DSN, a query), hex, and base64 (payload data in JSON, a
// proto's bytes in a JSON dump) at each of the three alignments a base64
// stream can put it at. A base64 form is the encoding of whole 3-byte
// groups of the secret only, so it matches whatever bytes surround the
// secret in the encoded stream.
func secretForms(secret string) map[string][]byte {
	forms := map[string][]byte{}
	variants := map[string]string{"": secret}
	if j, _ := json.Marshal(secret); string(j[1:len(j)-1]) != secret {
		variants["json "] = string(j[1 : len(j)-1])
	}
	for prefix, v := range variants {
		forms[prefix+"raw"] = []byte(v)
		if q := url.QueryEscape(v); q != v {
			forms[prefix+"url"] = []byte(q)
		}
		if p := url.PathEscape(v); p != v {
			forms[prefix+"url-path"] = []byte(p)
		}
		forms[prefix+"hex"] = []byte(hex.EncodeToString([]byte(v)))
		for skip := range 3 {
			part := v[skip:]
			part = part[:len(part)/3*3]
			if len(part) < 12 { // too short to tell from chance
				continue
			}
			std := base64.StdEncoding.EncodeToString([]byte(part))
			forms[fmt.Sprintf("%sbase64@%d", prefix, skip)] = []byte(std)
			if u := base64.URLEncoding.EncodeToString([]byte(part)); u != std {
				forms[fmt.Sprintf("%sbase64url@%d", prefix, skip)] = []byte(u)
			}
		}
	}
	return forms
}

// findSecrets looks for every secret, in every form, in every output.
// secrets maps a name to the value; outputs a name to the bytes.
func findSecrets(secrets map[string]string, outputs map[string][]byte) []leak {
	var found []leak
	for name, secret := range secrets {
		if len(secret) < 8 {
			panic("secret " + name + " is too short to search for")
		}
		forms := secretForms(secret)
		for out, data := range outputs {
			for form, b := range forms {
				if bytes.Contains(data, b) {
					found = append(found, leak{secret: name, output: out, form: form})
				}
			}
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].String() < found[j].String() })
	return found
}

// The check itself finds each secret however it was written, wherever it
// sits in the output, and finds nothing in a redacted output: a leak test
// whose grep could miss is no test.
func TestLeakCheckFindsEverySecret(t *testing.T) {
	secrets := map[string]string{
		"provider API key": "sk-leak-provider-0123456789abcdef",
		"realtime token":   "rt-leak-token-fedcba9876543210",
		"ledger password":  "pw-leak-Zx/9+q 7&=<x>",
		"payload key":      base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
	}
	plants := map[string]func(s string) []byte{
		"log line":     func(s string) []byte { return []byte(`{"level":"info","msg":"dial","key":"` + s + `"}`) },
		"error string": func(s string) []byte { return []byte("open: cannot use " + s + ": refused") },
		"DSN":          func(s string) []byte { return []byte("postgres://app:" + url.QueryEscape(s) + "@db/ledger") },
		"JSON payload 0": func(s string) []byte {
			return []byte(`"data":"` + base64.StdEncoding.EncodeToString([]byte(`{"k":"`+s+`"}`)) + `"`)
		},
		"JSON payload 1": func(s string) []byte {
			return []byte(`"data":"` + base64.StdEncoding.EncodeToString([]byte(`{"kk":"`+s+`"}`)) + `"`)
		},
		"JSON payload 2": func(s string) []byte {
			return []byte(`"data":"` + base64.StdEncoding.EncodeToString([]byte(`{"kkk":"`+s+`"}`)) + `"`)
		},
		"URL-safe base64": func(s string) []byte { return []byte(base64.RawURLEncoding.EncodeToString([]byte("x" + s))) },
		"hex dump":        func(s string) []byte { return []byte("bytes " + hex.EncodeToString([]byte(s))) },
		"binary proto":    func(s string) []byte { return append([]byte{0x0a, byte(len(s))}, s...) },
		"Go JSON in a payload": func(s string) []byte {
			j, _ := json.Marshal(map[string]string{"dsn": s})
			return []byte(`"data":"` + base64.StdEncoding.EncodeToString(j) + `"`)
		},
	}
	for name, secret := range secrets {
		for where, plant := range plants {
			outputs := map[string][]byte{"clean": []byte("nothing to see; key=xxxxx, [REDACTED]"), where: plant(secret)}
			found := findSecrets(map[string]string{name: secret}, outputs)
			if len(found) == 0 {
				t.Errorf("%s planted as a %s: not found", name, where)
			}
			for _, l := range found {
				if l.output == "clean" {
					t.Errorf("%s found in the clean output", name)
				}
			}
		}
	}
	// Redacted text does not count.
	redacted := map[string][]byte{"redacted": []byte("postgres://app:xxxxx@db/ledger sk-leak-provider-[REDACTED] rt-leak-token-…")}
	if found := findSecrets(secrets, redacted); len(found) != 0 {
		t.Errorf("redacted output reported as leaks: %v", found)
	}
	if !strings.Contains(leak{"a", "b", "raw"}.String(), "a in b") {
		t.Error("a leak's description does not say what and where")
	}
}
