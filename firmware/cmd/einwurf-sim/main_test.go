package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/firmware/broker"
	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/kiosk/session"
)

// need returns the path of a program, skipping the test without it
// (failing under CI=true, where every program must be installed).
func need(t *testing.T, prog string) string {
	t.Helper()
	return testtool.NeedTool(t, prog)
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	var out, errs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := run(ctx, []string{"-demo", "-data", dir}, strings.NewReader(""), &out, &errs); err != nil {
		t.Fatalf("demo: %v\n%s", err, errs.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	pdf := lines[len(lines)-1]
	if !strings.HasPrefix(pdf, filepath.Join(dir, "central", "inbox", "placement", "035F083761")+"/") || !strings.HasSuffix(pdf, ".pdf") {
		t.Fatalf("last line %q is not a filed PDF in the case folder", pdf)
	}
	sidecar := strings.TrimSuffix(pdf, ".pdf") + ".json"
	if _, err := os.Stat(sidecar); err != nil {
		t.Fatalf("no sidecar: %v", err)
	}
	// The spool is empty (deleted after the receipt); the visit is wiped.
	for _, d := range []string{"kiosk/spool", "kiosk/visits"} {
		des, _ := os.ReadDir(filepath.Join(dir, d))
		for _, de := range des {
			if !de.IsDir() {
				t.Errorf("%s still holds %s", d, de.Name())
			}
		}
	}
	// The device key was created with mode 0600.
	fi, err := os.Stat(filepath.Join(dir, "kiosk", "device.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("device key: %v %v", fi, err)
	}
	// No personal data in the logs.
	if strings.Contains(errs.String(), "035F") || strings.Contains(errs.String(), "083761") {
		t.Fatalf("the log holds the customer's number:\n%s", errs.String())
	}
	// The filed PDF is valid and has the five kept pages (the blank back of
	// sheet 2 is left out).
	qpdf := need(t, "qpdf")
	if b, err := exec.Command(qpdf, "--check", pdf).CombinedOutput(); err != nil {
		t.Fatalf("qpdf --check: %v\n%s", err, b)
	}
	b, err := exec.Command(need(t, "pdfinfo"), pdf).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "Pages:           5") {
		t.Fatalf("pdfinfo: %v\n%s", err, b)
	}
}

func TestDemoBadCode(t *testing.T) {
	var out, errs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, []string{"-demo", "-data", t.TempDir(), "-code", "12345"}, strings.NewReader(""), &out, &errs)
	if err == nil || out.Len() != 0 {
		t.Fatalf("a bad code gave %v, output %q", err, out.String())
	}
}

// TestDemoAfterAnErrorShown: an error still on the screen from before (a
// number refused) does not end the demo's wait for its own code's visit.
// Before, the demo read the old error key as its code's answer, unless the
// reader's code happened to reach the visit first
// (TestCentralCommandsReachTheKiosk failed so).
func TestDemoAfterAnErrorShown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, err := startSim(ctx, flags{demo: true, data: t.TempDir()}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	testtool.WaitFor(t, 60*time.Second, "the uplink connected", func() bool { return a.app().Uplink.Connected() })
	if err := a.app().Kiosk.Identify("12345"); err == nil || a.app().Kiosk.View().ErrorKey == "" {
		t.Fatalf("a bad number: %v, view %+v", err, a.app().Kiosk.View())
	}
	if _, err := a.demo(ctx, "035F083761"); err != nil {
		t.Fatal(err)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"extra"}, {"-demo", "extra"}, {"-nosuchflag"}, {"-sim"}} {
		if err := run(context.Background(), args, nil, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestNothingReadableOnTheBroker listens to every topic for a whole visit
// and checks that neither the number nor any piece of the PDF crosses the
// broker in the clear.
func TestNothingReadableOnTheBroker(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, err := startSim(ctx, flags{demo: true, data: dir, code: "03510//0961289"}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var mu sync.Mutex
	var topics []string
	var payloads [][]byte
	opts := mqtt.NewClientOptions().AddBroker(a.broker.URL()).SetClientID("listener").
		SetUsername(broker.CentralUser).SetPassword(a.centralSecret)
	cl := mqtt.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer cl.Disconnect(100)
	// Subscribed before the visit: a subscription still on its way would
	// miss the packet's messages.
	if tok := cl.Subscribe("#", 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		topics = append(topics, m.Topic())
		payloads = append(payloads, bytes.Clone(m.Payload()))
		mu.Unlock()
	}); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	pdfPath, err := a.demo(ctx, "03510//0961289")
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := os.ReadFile(pdfPath)
	if err != nil {
		t.Fatal(err)
	}
	// The central filed the packet, so its messages passed the broker;
	// the listener's copies may still be on their way (a moment for the
	// last ones, then at least three).
	time.Sleep(200 * time.Millisecond)
	testtool.Within(30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(payloads) >= 3 })
	mu.Lock()
	defer mu.Unlock()
	if len(payloads) < 3 {
		t.Fatalf("only %d messages seen", len(payloads))
	}
	var all []byte
	for _, p := range payloads {
		all = append(all, p...)
	}
	secrets := [][]byte{[]byte("0961289"), []byte("03510BG"), []byte("03510//"), []byte("%PDF-"), []byte("JFIF")}
	// Every 4 KiB window of the PDF, 64 bytes long: page bytes or PDF
	// structure in the clear would show.
	for off := 0; off+64 <= len(pdf); off += 4096 {
		secrets = append(secrets, pdf[off:off+64])
	}
	for _, s := range secrets {
		if bytes.Contains(all, s) {
			t.Fatalf("plaintext crossed the broker: %q", s[:min(len(s), 16)])
		}
	}
	for _, tp := range topics {
		if strings.Contains(tp, "0961289") || strings.Contains(tp, "03510") {
			t.Fatalf("topic %q carries the number", tp)
		}
	}
}

// TestPanelAndWatchdog turns the simulated service key and opens the
// simulated case, and watches what reaches the central and the watchdog.
func TestPanelAndWatchdog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	a, err := startSim(ctx, flags{demo: true, data: dir}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan string, 16)
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(a.broker.URL()).SetClientID("monitor").
		SetUsername(broker.CentralUser).SetPassword(a.centralSecret))
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer cl.Disconnect(100)
	cl.Subscribe("einwurf/v1/k/+/event", 1, func(_ mqtt.Client, m mqtt.Message) {
		events <- string(m.Payload())
	}).WaitTimeout(5 * time.Second)
	waitEvent := func(code string) {
		t.Helper()
		for {
			select {
			case e := <-events:
				if strings.Contains(e, `"code":"`+code+`"`) {
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no %s event", code)
			}
		}
	}
	// Wait until the uplink is connected, so events can leave.
	testtool.WaitFor(t, 60*time.Second, "the uplink connected", func() bool { return a.app().Uplink.Connected() })
	// Through the simulation's controls, as a person would on its page.
	drive := func(signal string, on bool) {
		t.Helper()
		body := fmt.Sprintf(`{"signal":%q,"asserted":%v}`, signal, on)
		r, err := http.Post(a.app().UIURL+"sim/api/board", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusNoContent {
			t.Fatalf("drive %s: %s", signal, r.Status)
		}
	}
	drive("tamper", true)
	waitEvent("tamper.open")
	drive("service_key", true)
	waitEvent("service.open")
	// In service mode the kiosk takes no number and no paper. The notice
	// leaves after the appliance entered service mode (firmware/appliance
	// panelEvent, TestPanelEventOrder); the view is still waited for, which
	// ends at once when it holds.
	testtool.WaitFor(t, 60*time.Second, "service mode", func() bool { return getView(t, a).Service })
	if err := a.app().Kiosk.Identify("035F083761"); !errors.Is(err, session.ErrCannotAccept) {
		t.Fatalf("a number taken in service mode: %v", err)
	}
	if err := a.app().Kiosk.Scan(ctx); err == nil {
		t.Fatal("the kiosk scanned in service mode")
	}
	drive("service_key", false)
	waitEvent("service.close")
	// Outputs are not a person's to drive.
	if r, err := http.Post(a.app().UIURL+"sim/api/board", "application/json", strings.NewReader(`{"signal":"light_red","asserted":true}`)); err != nil || r.StatusCode != http.StatusBadRequest {
		t.Fatalf("driving an output: %v %v", r, err)
	}
	a.Close()
	// The watchdog was petted and, on the clean stop, closed with 'V'.
	b, err := os.ReadFile(filepath.Join(dir, "kiosk", "watchdog"))
	if err != nil || len(b) < 2 || b[len(b)-1] != 'V' {
		t.Fatalf("watchdog file %q, %v", b, err)
	}
}

// testLog logs to the test's output.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// TestBrokerPortTaken: make run does not fail when something else holds
// the broker port (Debian's mosquitto on 1883): it takes a free port,
// unless the port was asked for.
func TestBrokerPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	users := map[string]string{"u": "p"}
	// An address given with -broker is kept: taken is an error.
	if _, _, err := startBroker(flags{brokerAddr: ln.Addr().String(), brokerSet: true}, users); err == nil {
		t.Fatal("a taken -broker address was replaced")
	}
	// The default address taken: a free port instead, and said so.
	b, moved, err := startBroker(flags{brokerAddr: ln.Addr().String()}, users)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !moved || b.Addr() == ln.Addr().String() || strings.HasSuffix(b.Addr(), ":0") {
		t.Fatalf("moved %v, broker on %s (taken: %s)", moved, b.Addr(), ln.Addr())
	}
}

// TestSimHonoursBoard: the simulation runs the configuration's board, and
// refuses one it cannot simulate before creating anything.
func TestSimHonoursBoard(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ board, want string }{{"rpi4", "cannot be simulated"}, {"pdp11", "pdp11"}} {
		cfg := filepath.Join(dir, c.board+".json")
		os.WriteFile(cfg, []byte(`{"board":"`+c.board+`"}`), 0o600)
		data := filepath.Join(dir, "data-"+c.board)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := run(ctx, []string{"-demo", "-config", cfg, "-data", data}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("board %s: %v (want an error saying %q)", c.board, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(data, "kiosk")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("board %s: the kiosk folder was created", c.board)
		}
	}
}
