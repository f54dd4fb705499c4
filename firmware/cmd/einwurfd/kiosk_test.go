//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/sys/unix"

	"github.com/einwurf/einwurf/board"
	boardsim "github.com/einwurf/einwurf/board/sim"
	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/drivers/usb"
	"github.com/einwurf/einwurf/drivers/usb/usbtest"
	"github.com/einwurf/einwurf/firmware/appliance"
	"github.com/einwurf/einwurf/firmware/uplink/mosquittotest"
	"github.com/einwurf/einwurf/internal/testtool"
)

// testKiosk is einwurfd's own composition (startOn, the configuration file,
// the board profile file) running on doubles of the hardware: board/sim's
// GPIO lines for the panel and the Wiegand reader, a pseudo-terminal as
// the imager's UART, usbtest's bus with the eSCL simulator behind an
// IPP-over-USB device, a file as the watchdog; and a real mosquitto with the
// production configuration as the central's broker.
type testKiosk struct {
	t       *testing.T
	a       *appliance.Appliance
	board   *boardsim.Board
	host    *usbtest.Host
	scanner *usbtest.Device
	uart    *os.File // the imager's end of the UART
	dogFile string
	central *keys.Central
	data    string
	events  chan string
	seen    []string    // events not yet asked for
	pub     mqtt.Client // the central's client on the broker
}

const testKioskID = "k-doubles"

// testScannerRelease is the scanner's USB release number (bcdDevice),
// shown in service mode as firmware 1.23.
const testScannerRelease = 0x0123

// kioskOptions vary the kiosk a test starts.
type kioskOptions struct {
	// staffList is written to the kiosk's folder before it starts.
	staffList func(c *keys.Central) []byte
	// tune adjusts the parts (after the test's short watchdog times).
	tune func(*appliance.Parts)
	// service is the configuration's service section (default: the
	// Wiegand badge reader).
	service map[string]any
	// startErr, when set, receives the start's error, and startTestKiosk
	// returns nil instead of failing the test.
	startErr *error
}

// Watchdog timing of these tests: a 3 s time-out, pets every 200 ms (a
// loaded machine may miss a few rounds of the UI check without a reset).
const (
	testDogTimeout  = 3 * time.Second
	testDogInterval = 200 * time.Millisecond
	testDeviceEvery = 200 * time.Millisecond
)

func startTestKiosk(t *testing.T, o kioskOptions) *testKiosk {
	t.Helper()
	dir := t.TempDir()
	pki, brk := mosquittotest.StartTest(t, filepath.Join(dir, "mqtt"))
	if err := brk.Enrol(testKioskID); err != nil {
		t.Fatal(err)
	}
	k := &testKiosk{t: t, data: filepath.Join(dir, "data"), events: make(chan string, 256)}
	var err error
	if k.central, err = keys.Generate(filepath.Join(dir, "central")); err != nil {
		t.Fatal(err)
	}
	cert, key, err := pki.Issue(testKioskID, false)
	if err != nil {
		t.Fatal(err)
	}
	// The central's client: it watches the kiosk's events and publishes
	// what the central sends.
	ctls, err := pki.ClientTLS(mosquittotest.CentralUser)
	if err != nil {
		t.Fatal(err)
	}
	k.pub = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brk.CentralURL()).SetClientID("central-test").
		SetTLSConfig(ctls).SetCleanSession(true).SetConnectTimeout(10 * time.Second))
	if tok := k.pub.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("central connect: %v", tok.Error())
	}
	t.Cleanup(func() { k.pub.Disconnect(50) })
	if tok := k.pub.Subscribe("einwurf/v1/k/"+testKioskID+"/event", 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case k.events <- string(m.Payload()):
		default:
		}
	}); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	// The imager's UART is a pseudo-terminal; the watchdog a file.
	var uartPath string
	k.uart, uartPath = openPTY(t)
	k.dogFile = filepath.Join(dir, "watchdog")
	if err := os.WriteFile(k.dogFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	prof, err := board.LoadProfile("sim")
	if err != nil {
		t.Fatal(err)
	}
	prof.Name, prof.Serial, prof.Watchdog = "test-doubles", uartPath, k.dogFile
	profFile := writeJSON(t, filepath.Join(dir, "board.json"), prof)

	// The scanner: the eSCL simulator behind an IPP-over-USB device.
	scan, err := sim.Start(sim.Options{Sheets: 5, Resolution: 150, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { scan.Close() })
	if k.scanner, err = usbtest.NewDevice(scan.Handler(), 2, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.scanner.Close() })
	k.scanner.SetRelease(testScannerRelease) // bcdDevice, as its firmware sets it
	k.host = usbtest.NewHost()
	k.host.Plug(k.scanner)

	if o.service == nil {
		o.service = map[string]any{"badge_reader": "wiegand"}
	}
	cfgFile := writeJSON(t, filepath.Join(dir, "einwurfd.json"), map[string]any{
		"kiosk_id": testKioskID, "listen": "127.0.0.1:0", "board": profFile,
		"scanner": map[string]any{"resolution": 150, "color": "Grayscale8", "duplex": false},
		"reader":  map[string]any{"kind": "imager", "mode": "plain"},
		"service": o.service,
		"mqtt": map[string]any{"brokers": []string{"tls://" + brk.Addr}, "ca_cert": pki.CAFile,
			"client_cert": cert, "client_key": key, "central_pub": filepath.Join(dir, "central", "central.pub.json")},
	})
	if o.staffList != nil {
		if err := os.MkdirAll(filepath.Join(k.data, "kiosk"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(k.data, "kiosk", "staff-list.json"), o.staffList(k.central), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m := machine{
		openBoard: func(p board.Profile) (board.Board, error) {
			b, err := boardsim.New(p)
			k.board = b
			return b, err
		},
		openUSB: func() (usb.Host, error) { return k.host, nil },
		tune: func(p *appliance.Parts) {
			p.WatchdogTimeout, p.WatchdogInterval, p.DeviceInterval = testDogTimeout, testDogInterval, testDeviceEvery
			if o.tune != nil {
				o.tune(p)
			}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	a, err := startOn(ctx, flags{config: cfgFile, data: k.data}, log, m)
	if err != nil && o.startErr != nil {
		cancel()
		*o.startErr = err
		return nil
	}
	if err != nil {
		cancel()
		t.Fatalf("einwurfd on doubles: %v", err)
	}
	k.a = a
	t.Cleanup(func() { cancel(); a.Close() })
	for i := 0; i < 600 && !a.Uplink.Connected(); i++ {
		time.Sleep(25 * time.Millisecond)
	}
	if !a.Uplink.Connected() {
		t.Fatal("the kiosk did not connect to mosquitto")
	}
	return k
}

// openPTY opens a pseudo-terminal and returns its master end and the path
// of its slave end, which the imager opens as its UART.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		testtool.SkipOrFail(t, "no pseudo-terminal for the imager's UART: /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	f := os.NewFile(uintptr(fd), "/dev/ptmx")
	t.Cleanup(func() { f.Close() })
	return f, fmt.Sprintf("/dev/pts/%d", n)
}

func writeJSON(t *testing.T, path string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// event waits for the kiosk's event with code (and, if not empty, whose
// detail contains detail) and returns it. Events are kept as they come, so
// the order in which a test asks for two of them does not matter; each
// event is returned once.
func (k *testKiosk) event(code, detail string) string {
	k.t.Helper()
	match := func(e string) bool { return strings.Contains(e, `"code":"`+code+`"`) && strings.Contains(e, detail) }
	for i, e := range k.seen {
		if match(e) {
			k.seen = append(k.seen[:i], k.seen[i+1:]...)
			return e
		}
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e := <-k.events:
			if match(e) {
				return e
			}
			k.seen = append(k.seen, e)
		case <-deadline:
			k.t.Fatalf("no event %s (%s) within 30s; seen %v", code, detail, k.seen)
			return ""
		}
	}
}

// get reads a JSON answer of the kiosk's UI.
func (k *testKiosk) get(path string, v any) {
	k.t.Helper()
	r, err := http.Get(k.a.UIURL + path)
	if err != nil {
		k.t.Fatal(err)
	}
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		k.t.Fatalf("%s: %v", path, err)
	}
}

// healthz asks the UI's /healthz (as the watchdog does, with only a guard
// far above its own wait) and returns the status and the body's first
// line.
func (k *testKiosk) healthz() (int, string) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, k.a.UIURL+"healthz", nil)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatalf("/healthz: %v", err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, strings.TrimSpace(string(b))
}

// view is the part of the customer UI's view these tests look at.
type view struct {
	State          string `json:"state"`
	NotReady       string `json:"not_ready"`
	NotReadyReason string `json:"not_ready_reason"`
	Service        bool   `json:"service"`
}

func (k *testKiosk) view() view {
	var v view
	k.get("api/view", &v)
	return v
}

// waitFor polls cond every 25 ms for at most d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(25 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// pets watches the watchdog file and reports keepalives and the magic
// close as they are written.
type pets struct {
	mu      sync.Mutex
	n       int
	last    time.Time
	longest time.Duration
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

// watchPets samples the watchdog file every 10 ms until stop.
func (k *testKiosk) watchPets() *pets {
	p := &pets{last: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	f, err := os.Open(k.dogFile)
	if err != nil {
		k.t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		defer f.Close()
		f.Seek(0, io.SeekEnd)
		buf := make([]byte, 4096)
		for {
			n, _ := f.Read(buf)
			p.mu.Lock()
			now := time.Now()
			for _, c := range buf[:n] {
				switch c {
				case 'k':
					p.longest = max(p.longest, now.Sub(p.last))
					p.n++
					p.last = now
				case 'V':
					p.closed = true
				}
			}
			p.mu.Unlock()
			select {
			case <-p.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return p
}

// result stops watching and returns the keepalives seen, the longest gap
// between two (or since the last one, up to now) and whether the magic
// close came.
func (p *pets) result() (n int, longest time.Duration, closed bool) {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n, max(p.longest, time.Since(p.last)), p.closed
}

// snapshot returns the keepalives seen so far, the longest gap (up to
// now) and whether the magic close came, watching on.
func (p *pets) snapshot() (n int, longest time.Duration, closed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n, max(p.longest, time.Since(p.last)), p.closed
}

// sinceLast is how long ago the last keepalive came.
func (p *pets) sinceLast() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Since(p.last)
}
