package appliance

import (
	"context"
	"testing"

	"github.com/einwurf/einwurf/drivers/panel"
	"github.com/einwurf/einwurf/kiosk/service"
)

// quietHost is the service host of TestPanelEventOrder: no visit, a
// self-test that passes; nothing else is called.
type quietHost struct{ service.Host }

func (quietHost) CancelVisit() bool              { return false }
func (quietHost) Audit(string, string)           {}
func (quietHost) SelfTest(context.Context) error { return nil }

// TestPanelEventOrder: the panel's events reach the central only after the
// kiosk acted on them: when service.open is sent the kiosk is in service
// mode, when service.close is sent the staff's session is over. An
// observer looks at service mode as each event arrives. Before, the
// notice went first (the service test raced it: a number typed on seeing
// service.open was taken by the customer's screen).
func TestPanelEventOrder(t *testing.T) {
	a := &Appliance{svc: service.New(service.Config{Host: quietHost{}})}
	var got []string
	observe := func(code, _ string) {
		st := a.svc.Snapshot().State
		got = append(got, code+" "+string(st))
		switch code {
		case "service.open":
			if !a.svc.Active() || st != service.Locked {
				t.Errorf("service.open sent with service mode %s", st)
			}
		case "service.close":
			if st == service.Locked || st == service.Open {
				t.Errorf("service.close sent with service mode still %s", st)
			}
		}
	}
	ctx := context.Background()
	for _, k := range []panel.EventKind{panel.ServiceKeyTurned, panel.TamperOpened, panel.TamperClosed, panel.ServiceKeyReturned} {
		a.panelEvent(ctx, k, observe, observe)
	}
	want := []string{"service.open", "tamper.open", "tamper.closed", "service.close"}
	if len(got) != len(want) {
		t.Fatalf("events %q", got)
	}
	for i, w := range want {
		if got[i][:len(w)] != w {
			t.Fatalf("event %d %q, want %s", i, got[i], w)
		}
	}
}
