package packaging

import (
	"encoding/json"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/firmware/config"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDefaultConfiguration: the shipped configuration is one einwurfd
// accepts, names a real board profile and leaves nothing to the
// simulation's defaults.
func TestDefaultConfiguration(t *testing.T) {
	c, err := config.Parse([]byte(read(t, "debian/einwurfd.json")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := board.LoadProfile(c.Board); err != nil || c.Board == "sim" {
		t.Fatalf("board %q: %v", c.Board, err)
	}
	if len(c.MQTT.Brokers) == 0 || c.MQTT.CentralPub == "" || c.MQTT.ClientKey == "" {
		t.Fatalf("no broker or credentials: %+v", c.MQTT)
	}
}

// fields lists a struct's JSON field paths ("scanner.url").
func fields(typ reflect.Type, prefix string) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[config.Duration]() {
			out = append(out, fields(f.Type, prefix+name+".")...)
			continue
		}
		out = append(out, prefix+name)
	}
	return out
}

// TestConfigurationDocumented: docs/install.md documents every field of
// the configuration, one table row each, and no field that is gone.
func TestConfigurationDocumented(t *testing.T) {
	doc := read(t, "../docs/install.md")
	rows := regexp.MustCompile("(?m)^\\| `([a-z_.]+)` \\|").FindAllStringSubmatch(doc, -1)
	var documented []string
	for _, r := range rows {
		documented = append(documented, r[1])
	}
	want := fields(reflect.TypeFor[config.Config](), "")
	if len(want) < 15 {
		t.Fatalf("only %d fields found: %v", len(want), want)
	}
	for _, f := range want {
		if !slices.Contains(documented, f) {
			t.Errorf("configuration field %s is not documented in docs/install.md", f)
		}
	}
	for _, f := range documented {
		if !slices.Contains(want, f) {
			t.Errorf("docs/install.md documents %s, which the configuration does not have", f)
		}
	}
}

// TestKioskScreenShowsTheUI: the browser unit opens the configured UI, and
// the managed policy allows that address and blocks all others.
func TestKioskScreenShowsTheUI(t *testing.T) {
	c, err := config.Parse([]byte(read(t, "debian/einwurfd.json")))
	if err != nil {
		t.Fatal(err)
	}
	unit := read(t, "debian/einwurf-kiosk.service")
	m := regexp.MustCompile(`(?m)^Environment=KIOSK_URL=(\S+)$`).FindStringSubmatch(unit)
	if m == nil {
		t.Fatal("no KIOSK_URL in einwurf-kiosk.service")
	}
	u, err := url.Parse(m[1])
	if err != nil || u.Host != c.Listen || u.Scheme != "http" {
		t.Fatalf("the kiosk screen opens %s, the UI listens on %s", m[1], c.Listen)
	}
	for _, want := range []string{"--kiosk", "${KIOSK_URL}", "/usr/bin/cage -d --"} {
		if !strings.Contains(unit, want) {
			t.Errorf("einwurf-kiosk.service lacks %q", want)
		}
	}
	if strings.Contains(unit, "cage -s") || strings.Contains(unit, "cage -d -s") {
		t.Error("cage may switch VTs (-s): a way out to a console")
	}
	var pol struct {
		URLBlocklist, URLAllowlist []string
		DeveloperToolsAvailability int
	}
	if err := json.Unmarshal([]byte(read(t, "debian/chromium-policy.json")), &pol); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pol.URLBlocklist, []string{"*"}) || !slices.Equal(pol.URLAllowlist, []string{"http://" + c.Listen}) ||
		pol.DeveloperToolsAvailability != 2 {
		t.Fatalf("policy: %+v (UI on %s)", pol, c.Listen)
	}
}

// TestUnitAdmitsTheBoardsDevices: einwurfd.service's DeviceAllow= names
// the UART and watchdog of every board profile, the GPIO chips and USB
// device nodes, and the sandbox the issue asks for is there.
func TestUnitAdmitsTheBoardsDevices(t *testing.T) {
	unit := read(t, "debian/einwurfd.service")
	allow := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^DeviceAllow=(\S+) rw$`).FindAllStringSubmatch(unit, -1) {
		allow[m[1]] = true
	}
	for _, name := range board.BuiltinProfiles() {
		if name == "sim" {
			continue
		}
		p, err := board.LoadProfile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, dev := range []string{p.Serial, p.Watchdog} {
			if dev != "" && !allow[dev] {
				t.Errorf("profile %s uses %s, which einwurfd.service does not allow", name, dev)
			}
		}
	}
	for _, want := range []string{"char-usb_device", "char-gpiochip"} {
		if !allow[want] {
			t.Errorf("DeviceAllow=%s missing", want)
		}
	}
	for _, want := range []string{"DevicePolicy=closed", "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
		"User=einwurf", "Restart=always", "CapabilityBoundingSet=\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("einwurfd.service lacks %q", want)
		}
	}
}
