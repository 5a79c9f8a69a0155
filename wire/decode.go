package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
)

// FieldError is one invalid input field: its JSON path (e.g.
// "options.quorum") and what is wrong with it.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// FieldErrors is every invalid field of one input.
type FieldErrors []FieldError

func (fs FieldErrors) Error() string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Error()
	}
	return strings.Join(parts, "; ")
}

// UnmarshalJSON decodes like encoding/json, except that a value of the
// wrong JSON type (a string for a number, 2.5 for an integer, text that is
// not base64) leaves its field at zero and is recorded, named by its path:
// the workflow turns it into VALIDATION_FAILED instead of the SDK failing
// the run with an untyped decode error before any workflow code runs.
func (in *ConsensusInput) UnmarshalJSON(data []byte) error {
	type plain ConsensusInput // without this method
	var p plain
	bad := decodeTolerant(data, &p)
	*in = ConsensusInput(p)
	in.undecodable = bad
	return nil
}

// Undecodable lists the fields whose JSON had the wrong type (left at zero);
// nil for an input that decoded cleanly.
func (in ConsensusInput) Undecodable() FieldErrors { return in.undecodable }

// UnmarshalJSON decodes tolerantly, as ConsensusInput.UnmarshalJSON does.
func (in *InferenceInput) UnmarshalJSON(data []byte) error {
	type plain InferenceInput
	var p plain
	bad := decodeTolerant(data, &p)
	*in = InferenceInput(p)
	in.undecodable = bad
	return nil
}

// Undecodable lists the fields whose JSON had the wrong type (left at zero).
func (in InferenceInput) Undecodable() FieldErrors { return in.undecodable }

// UnmarshalJSON decodes tolerantly, as ConsensusInput.UnmarshalJSON does;
// Validate returns the fields that had the wrong type. Inline items decode
// as ConsensusInput (see UndecodableItems).
func (in *BatchInput) UnmarshalJSON(data []byte) error {
	type plain BatchInput
	var p plain
	bad := decodeTolerant(data, &p)
	*in = BatchInput(p)
	in.undecodable = bad
	return nil
}

// decodeTolerant decodes data into v (a pointer to a struct). A clean
// document decodes exactly as json.Unmarshal decodes it; otherwise field by
// field, recursing into objects, and the fields that cannot be decoded are
// returned.
func decodeTolerant(data []byte, v any) FieldErrors {
	rv := reflect.ValueOf(v).Elem()
	return decodeValue(data, rv, "")
}

func decodeValue(data []byte, v reflect.Value, path string) FieldErrors {
	err := json.Unmarshal(data, v.Addr().Interface())
	if err == nil {
		return nil
	}
	v.SetZero()
	st := v.Type()
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	if st.Kind() != reflect.Struct || !isObject(data) {
		field := path
		if field == "" {
			field = "input"
		}
		return FieldErrors{{Field: field, Reason: reasonOf(err, v.Type())}}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil { // unreachable: data is an object
		return FieldErrors{{Field: path, Reason: err.Error()}}
	}
	if v.Kind() == reflect.Pointer {
		v.Set(reflect.New(st))
		v = v.Elem()
	}
	var bad FieldErrors
	for i := range st.NumField() {
		f := st.Field(i)
		name, ok := jsonName(f)
		if !ok {
			continue
		}
		msg, found := lookup(raw, name)
		if !found {
			continue
		}
		p := name
		if path != "" {
			p = path + "." + name
		}
		bad = append(bad, decodeValue(msg, v.Field(i), p)...)
	}
	return bad
}

// jsonName is the key encoding/json uses for an exported field.
func jsonName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	if name, _, _ := strings.Cut(tag, ","); name != "" {
		return name, true
	}
	return f.Name, true
}

// lookup finds a key as encoding/json does: exact, else case-insensitive.
func lookup(raw map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if m, ok := raw[name]; ok {
		return m, true
	}
	for k, m := range raw {
		if strings.EqualFold(k, name) {
			return m, true
		}
	}
	return nil, false
}

func isObject(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))
}

// reasonOf says what was wanted and what was given.
func reasonOf(err error, t reflect.Type) string {
	var typeErr *json.UnmarshalTypeError
	var b64 base64.CorruptInputError
	switch {
	case errors.As(err, &b64):
		return "want base64 text, got text that is not base64"
	case errors.As(err, &typeErr):
		return "want " + describe(t) + ", got " + typeErr.Value
	}
	return err.Error()
}

// describe names a Go type as a JSON value.
func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "base64 text"
		}
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(describe(t.Elem()), "a "), "an ") + "s"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}
