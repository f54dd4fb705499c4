package packaging

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/firmware/config"
	"github.com/einwurf/einwurf/firmware/uplink/mosquittotest"
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
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			out = append(out, fields(ft, prefix+name+".")...)
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

// TestKioskScreenShowsTheUI: the screen's unit runs the launcher, which
// opens einwurfd's launch URL; the managed policy allows the configured UI
// address and blocks all others.
func TestKioskScreenShowsTheUI(t *testing.T) {
	c, err := config.Parse([]byte(read(t, "debian/einwurfd.json")))
	if err != nil {
		t.Fatal(err)
	}
	unit := read(t, "debian/einwurf-kiosk.service")
	for _, want := range []string{"ExecStart=/usr/libexec/einwurf/kiosk-browser\n", "Restart=always\n", "Conflicts=getty@tty1.service\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("einwurf-kiosk.service lacks %q", want)
		}
	}
	// einwurfd keeps the launch URL in $RUNTIME_DIRECTORY/ui-launch-url
	// (firmware/cmd/einwurfd); the launcher reads it there.
	if d := read(t, "debian/einwurfd.service"); !strings.Contains(d, "RuntimeDirectory=einwurf\n") {
		t.Error("einwurfd.service has no RuntimeDirectory=einwurf")
	}
	if !strings.Contains(read(t, "debian/kiosk-browser"), "/run/einwurf/ui-launch-url") {
		t.Error("the launcher does not read /run/einwurf/ui-launch-url")
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

// launcher runs debian/kiosk-browser with a stand-in for cage that
// records its command line.
func launcher(t *testing.T, launchURL string, write bool) (args []string, err error) {
	t.Helper()
	dir := t.TempDir()
	launch := filepath.Join(dir, "ui-launch-url")
	if write {
		if err := os.WriteFile(launch, []byte(launchURL+"\n"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	got := filepath.Join(dir, "args")
	cage := filepath.Join(dir, "cage")
	os.WriteFile(cage, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" >"+got+"\n"), 0o755)
	cmd := exec.Command("./debian/kiosk-browser")
	cmd.Env = append(os.Environ(), "CAGE="+cage, "EINWURF_LAUNCH_FILE="+launch, "EINWURF_LAUNCH_WAIT=2",
		"RUNTIME_DIRECTORY="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n"), nil
}

// TestKioskBrowserLauncher: cage runs without VT switching, Chromium in
// kiosk mode on the launch URL as the last argument; a URL off loopback,
// or none at all, starts nothing.
func TestKioskBrowserLauncher(t *testing.T) {
	url := "http://127.0.0.1:8080/launch/0123abcd"
	args, err := launcher(t, url, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(args) < 5 || args[0] != "-d" || args[1] != "--" || args[2] != "/usr/bin/chromium" || args[len(args)-1] != url {
		t.Fatalf("cage %q", args)
	}
	for _, want := range []string{"--kiosk", "--incognito", "--noerrdialogs", "--overscroll-history-navigation=0"} {
		if !slices.Contains(args, want) {
			t.Errorf("chromium without %s: %q", want, args)
		}
	}
	if slices.Contains(args, "-s") {
		t.Error("cage -s: VT switching, a way out")
	}
	for _, bad := range []string{"http://example.org:8080/launch/x", "http://127.0.0.1:8080/", "file:///etc/passwd"} {
		if args, err := launcher(t, bad, true); err == nil {
			t.Errorf("%s launched: %q", bad, args)
		}
	}
	if args, err := launcher(t, url, false); err == nil || !strings.Contains(err.Error(), "no UI launch URL") {
		t.Errorf("no launch file: %v %q", err, args)
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
		"User=einwurf", "Restart=always", "CapabilityBoundingSet=\n",
		// A crash loop (before the watchdog is opened) reboots the board,
		// so a root file system on trial that cannot start is rolled back.
		"StartLimitAction=reboot\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("einwurfd.service lacks %q", want)
		}
	}
}

// TestShippedConfigurationChecks: the shipped configuration, with the
// files step 5 of docs/install.md puts under /etc/einwurf (the central's
// keys, the CA, the kiosk's certificate and key), passes einwurfd's
// -check-config checks; without them it names the missing file.
func TestShippedConfigurationChecks(t *testing.T) {
	dir := t.TempDir()
	shipped := read(t, "debian/einwurfd.json")
	c, err := config.Parse([]byte(shipped))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/etc/einwurf/central.pub.json"); err != nil { // not a kiosk
		if _, err := c.CheckKiosk(); err == nil || !strings.Contains(err.Error(), "mqtt.central_pub") {
			t.Fatalf("without the installer's files: %v", err)
		}
	}
	if _, err := keys.Generate(filepath.Join(dir, "keys")); err != nil {
		t.Fatal(err)
	}
	pki, err := mosquittotest.NewPKI(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := pki.Issue("k-test", false)
	if err != nil {
		t.Fatal(err)
	}
	installed := strings.NewReplacer(
		"/etc/einwurf/central.pub.json", filepath.Join(dir, "keys", "central.pub.json"),
		"/etc/einwurf/ca.pem", pki.CAFile,
		"/etc/einwurf/kiosk.pem", cert,
		"/etc/einwurf/kiosk.key", key).Replace(shipped)
	if installed == shipped {
		t.Fatal("the shipped configuration names none of the installer's files")
	}
	c, err = config.Parse([]byte(installed))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CheckKiosk()
	if err != nil {
		t.Fatalf("-check-config of the installed configuration: %v", err)
	}
	if r.TLS == nil || r.Profile.Name != c.Board {
		t.Fatalf("resolved %+v", r)
	}
}
