package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/central/monitor"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/wire"
)

// TestRebootCommand: the central's reboot reaches the simulated kiosk,
// which answers done, goes offline (the dashboard's offline alarm opens)
// and comes back with a newer birth (the alarm clears); the same reboot
// command delivered again after the restart is refused as replayed and
// reboots nothing, and the restarted kiosk's screen is ready.
func TestRebootCommand(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := startSim(ctx, flags{demo: true, data: dir}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, m, id := s.dashboard.Store, s.dashboard.Monitor, s.app().KioskID
	var birth0 uint64
	testtool.WaitFor(t, 60*time.Second, "the kiosk's birth", func() bool {
		k, err := st.Kiosk(ctx, id)
		birth0 = k.BirthSeq
		return err == nil && k.Online && k.BirthSeq >= 1
	})

	w := watchCommands(t, s)
	s.reboots.down = make(chan chan struct{})
	recs, err := m.Send(ctx, "test", []string{id}, wire.CmdReboot, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := answered(t, st, id, recs[0].Seq); r.Result != wire.ResultDone {
		t.Fatalf("reboot: %+v", r)
	}
	// The kiosk is down: offline on the dashboard (and an alarm).
	var up chan struct{}
	select {
	case up = <-s.reboots.down:
	case <-time.After(30 * time.Second):
		t.Fatal("the kiosk did not go down")
	}
	testtool.WaitFor(t, 60*time.Second, "the kiosk offline on the dashboard", func() bool {
		k, err := st.Kiosk(ctx, id)
		return err == nil && !k.Online
	})
	close(up)
	// While it comes up the simulation page is used, as a person does not
	// wait for a reboot: the appliance and the board are swapped under
	// the page's handlers (go test -race sees a swap without
	// synchronisation). Once restarted, the page drives the new board.
	testtool.WaitFor(t, 60*time.Second, "the restarted kiosk's simulation page", func() bool {
		r, err := http.Post(s.app().UIURL+"sim/api/board", "application/json", strings.NewReader(`{"signal":"tamper","asserted":false}`))
		if err != nil {
			return false // the old appliance's page is gone, the new one not yet there
		}
		r.Body.Close()
		return r.StatusCode == http.StatusNoContent && s.reboots.done.Load() >= 1
	})
	// Back, with a newer birth; the offline alarm cleared.
	testtool.WaitFor(t, 60*time.Second, "the kiosk back on the dashboard", func() bool {
		k, err := st.Kiosk(ctx, id)
		if err != nil || !k.Online || k.BirthSeq <= birth0 {
			return false
		}
		as, err := st.Alarms(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.KioskID == id && a.Code == monitor.AlarmOffline && !a.Cleared.IsZero() {
				return true
			}
		}
		return false
	})
	if n := s.reboots.done.Load(); n != 1 {
		t.Fatalf("%d restarts, want 1", n)
	}

	// The same reboot again, after the restart: refused, no restart.
	w.replay(wire.CmdReboot)
	// The restarted kiosk's screen answers, ready for customers (a
	// restart the replay caused would show below).
	if v := kioskView(t, s.app().UIURL); v.NotReady != "" {
		t.Fatalf("the restarted kiosk is not ready: %+v", v)
	}
	if n := s.reboots.done.Load(); n != 1 {
		t.Fatalf("%d restarts after the replay, want 1", n)
	}
}
