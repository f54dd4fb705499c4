package command

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// secretWords mark configuration fields whose values are left out of a
// support bundle.
var secretWords = []string{"password", "secret", "token", "passphrase", "private", "credential"}

// Redacted returns the JSON document b (a configuration) with the values of
// secret-looking fields replaced by "(redacted)" and the user information of
// URLs removed, for a support bundle.
func Redacted(b []byte) (json.RawMessage, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("command: configuration: %w", err)
	}
	out, err := json.Marshal(redact(v, ""))
	if err != nil {
		return nil, err
	}
	return out, nil
}

func redact(v any, name string) any {
	lname := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(lname, w) {
			return "(redacted)"
		}
	}
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = redact(e, k)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = redact(e, name)
		}
		return t
	case string:
		if u, err := url.Parse(t); err == nil && u.User != nil && u.Host != "" {
			u.User = nil
			return u.String()
		}
		return t
	}
	return v
}
