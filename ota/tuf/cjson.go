package tuf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// canonical returns the OLPC canonical JSON of a JSON value, as TUF signs
// it: sorted keys, no white space, only backslash and quote escaped in
// strings, integers only.
func canonical(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	var b strings.Builder
	b.Grow(len(raw))
	if err := encodeCanonical(&b, v, 0); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

func encodeCanonical(b *strings.Builder, v any, depth int) error {
	if depth > 64 {
		return fmt.Errorf("nested too deeply")
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case json.Number:
		if _, err := v.Int64(); err != nil {
			return fmt.Errorf("not an integer: %s", v)
		}
		b.WriteString(v.String())
	case string:
		b.WriteByte('"')
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v))
		b.WriteByte('"')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeCanonical(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeCanonical(b, k, depth+1); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := encodeCanonical(b, v[k], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("cannot canonicalize %T", v)
	}
	return nil
}
