package brokeracl

import (
	"errors"
	"strings"
	"testing"
)

func TestEnrolCommands(t *testing.T) {
	b, err := EnrolCommands("k-0001")
	if err != nil || !strings.Contains(string(b), `"einwurf/v1/c/k-0001/#"`) || strings.Contains(string(b), "%u") {
		t.Fatalf("%s %v", b, err)
	}
	for _, bad := range []string{"K-1", "../x", "k/1", "#", "+"} {
		if _, err := EnrolCommands(bad); err == nil {
			t.Errorf("kiosk id %q accepted", bad)
		}
	}
}

func FuzzCheckAnswer(f *testing.F) {
	f.Add([]byte(`{"responses":[{"command":"createRole"},{"command":"createClient"}]}`))
	f.Add([]byte(`{"responses":[{"command":"createRole","error":"Role already exists"},{"command":"createClient"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := CheckAnswer(b, 2); err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("error %v", err)
		}
	})
}
