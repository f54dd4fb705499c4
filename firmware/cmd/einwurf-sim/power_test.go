package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/firmware/broker"
	"github.com/einwurf/einwurf/internal/testtool"
)

// eventWatch collects the kiosk's events as the central sees them on the
// broker.
type eventWatch struct {
	t      *testing.T
	mu     sync.Mutex
	events []string // every event seen, in order (none dropped however slow the test)
	next   int      // events before next were looked at by wait
	// tm receives the kiosk's telemetry.
	tm chan string
}

func watchEvents(t *testing.T, s *simulation) *eventWatch {
	t.Helper()
	w := &eventWatch{t: t, tm: make(chan string, 8)}
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(s.broker.URL()).SetClientID("monitor-events").
		SetUsername(broker.CentralUser).SetPassword(s.centralSecret))
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	if tok := cl.Subscribe("einwurf/v1/k/+/event", 1, func(_ mqtt.Client, m mqtt.Message) {
		w.mu.Lock()
		w.events = append(w.events, string(m.Payload()))
		w.mu.Unlock()
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("subscribe:", tok.Error())
	}
	if tok := cl.Subscribe("einwurf/v1/k/+/telemetry", 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case w.tm <- string(m.Payload()):
		default:
		}
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("subscribe:", tok.Error())
	}
	testtool.WaitFor(t, 60*time.Second, "the uplink connected", func() bool { return s.app().Uplink.Connected() })
	return w
}

// wait returns the first event after those it returned before whose
// code is code, failing after 60 s.
func (w *eventWatch) wait(code string) string {
	w.t.Helper()
	var e string
	testtool.WaitFor(w.t, 60*time.Second, code+" event", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for w.next < len(w.events) {
			e = w.events[w.next]
			w.next++
			if strings.Contains(e, `"code":"`+code+`"`) {
				return true
			}
		}
		return false
	})
	return e
}

// simView is the part of the UI's view a test looks at.
type simView struct {
	State          string `json:"state"`
	NotReady       string `json:"not_ready"`
	NotReadyReason string `json:"not_ready_reason"`
	Service        bool   `json:"service"`
}

func getView(t *testing.T, s *simulation) simView {
	t.Helper()
	r, err := http.Get(s.app().UIURL + "api/view")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var v simView
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func postJSON(t *testing.T, url, body string) *http.Response {
	t.Helper()
	r, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode/100 != 2 {
		t.Fatalf("POST %s %s: %s", url, body, r.Status)
	}
	return r
}

// TestScannerOffNoReset: a kiosk whose scanner is switched off is out of
// service with an alarm, and its watchdog goes on being petted (no reset,
// no boot loop); when the scanner is back, so is the kiosk.
func TestScannerOffNoReset(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	const dogTimeout = 3 * time.Second // as einwurfd's tests: room for a loaded machine's missed UI checks (each bounded by the 200 ms interval)
	s, err := startSim(ctx, flags{demo: true, data: dir, dogTimeout: dogTimeout, dogInterval: 200 * time.Millisecond,
		deviceInterval: 200 * time.Millisecond}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev := watchEvents(t, s)
	dogFile := filepath.Join(dir, "kiosk", "watchdog")

	// watchPets samples the watchdog file for d and returns the longest
	// time it went without a keepalive, and how many came.
	watchPets := func(d time.Duration, until func() bool) (longest time.Duration, pets int) {
		t.Helper()
		fi, _ := os.Stat(dogFile)
		size, last, start := fi.Size(), time.Now(), time.Now()
		for time.Since(start) < d || (until != nil && !until() && time.Since(start) < 30*time.Second) {
			time.Sleep(20 * time.Millisecond)
			fi, err := os.Stat(dogFile)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() > size {
				pets += int(fi.Size() - size)
				size, last = fi.Size(), time.Now()
			}
			longest = max(longest, time.Since(last))
		}
		return longest, pets
	}
	if v := getView(t, s); v.NotReady != "" {
		t.Fatalf("not ready at start: %+v", v)
	}

	postJSON(t, s.app().UIURL+"sim/api/scanner/power", `{"on":false}`)
	alarm := ev.wait("scanner.absent")
	if !strings.Contains(alarm, `"offline"`) {
		t.Errorf("alarm %s does not name the cause", alarm)
	}
	// Out of service on the customer's screen, and it stays so for well
	// over the watchdog's time-out, while the watchdog is petted.
	longest, pets := watchPets(3*dogTimeout, nil)
	t.Logf("scanner off for %v: longest time without a keepalive %v, %d keepalives (time-out %v)", 3*dogTimeout, longest, pets, dogTimeout)
	if longest >= dogTimeout || pets < 5 {
		t.Fatalf("scanner off: watchdog went %v without a keepalive (%d in all); the board would reset", longest, pets)
	}
	if v := getView(t, s); v.NotReady != "cannot-accept" || v.NotReadyReason != "out-of-service.technical-fault" {
		t.Fatalf("scanner off: view %+v", v)
	}
	if err := s.app().Kiosk.Identify("035F083761"); err == nil {
		t.Fatal("a number was taken without a scanner")
	}

	postJSON(t, s.app().UIURL+"sim/api/scanner/power", `{"on":true}`)
	ev.wait("scanner.back")
	if v := getView(t, s); v.NotReady != "" {
		t.Fatalf("scanner back: view %+v", v)
	}
	s.Close()
	b, err := os.ReadFile(dogFile)
	if err != nil || b[len(b)-1] != 'V' {
		t.Fatalf("watchdog not closed cleanly: %v", err)
	}
}
