package broker

import "testing"

func TestAllowed(t *testing.T) {
	tests := []struct {
		user, topic string
		write, want bool
	}{
		{"k-a", "einwurf/v1/k/k-a/pkt/p/offer", true, true},
		{"k-a", "einwurf/v1/k/k-b/pkt/p/offer", true, false},
		{"k-a", "einwurf/v1/k/k-ab/status", true, false},
		{"k-a", "einwurf/v1/c/k-a/#", false, true},
		{"k-a", "einwurf/v1/c/k-b/#", false, false},
		{"k-a", "einwurf/v1/k/k-a/#", false, false},
		{"k-a", "#", false, false},
		{"k-a", "einwurf/v1/k/k-a/+", true, false},
		{"central", "#", false, true},
		{"central", "einwurf/v1/c/k-a/receipt", true, true},
		{"", "einwurf/v1/k//status", true, false},
	}
	for _, tt := range tests {
		if got := Allowed(tt.user, tt.topic, tt.write); got != tt.want {
			t.Errorf("Allowed(%q, %q, %v) = %v", tt.user, tt.topic, tt.write, got)
		}
	}
}
