package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/central/keys"
)

// TestKioskModeHere starts the hardware path on this machine, which has no
// GPIO chips: it must stop with a clear error naming the board, not
// half-start.
func TestKioskModeHere(t *testing.T) {
	dir := t.TempDir()
	// Central keys as a kiosk would be given them.
	if _, err := keys.Generate(filepath.Join(dir, "central", "keys")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cfgPath := filepath.Join(dir, "kiosk.json")
	os.WriteFile(cfgPath, []byte(`{"board":"rpi4","kiosk_id":"k-test","scanner":{"url":"http://127.0.0.1:9/eSCL","resolution":300,"color":"RGB24"},
		"mqtt":{"brokers":["tcp://127.0.0.1:9"],"central_pub":"`+filepath.Join(dir, "central", "keys", "central.pub.json")+`"}}`), 0o600)
	err := run(context.Background(), []string{"-config", cfgPath, "-data", dir}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "board rpi4") || !strings.Contains(err.Error(), "GPIO") {
		t.Fatalf("kiosk mode here: %v", err)
	}
	if err := run(context.Background(), []string{"-data", dir}, &out, &out); !errors.Is(err, errNeedConfig) {
		t.Fatalf("kiosk mode without config: %v", err)
	}
}

func TestFlags(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &out, &out); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "-config") {
		t.Fatalf("-h: %v\n%s", err, out.String())
	}
	// The simulation's flags are not the kiosk's.
	for _, args := range [][]string{{"-sim"}, {"-demo"}, {"-config", "x", "extra"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestNoSimulationInTheKiosk proves with the go tool that the shipped
// binary links no simulator, no central, no embedded broker: its package
// graph (for the GOOS/GOARCH of this test) holds none of them.
func TestNoSimulationInTheKiosk(t *testing.T) {
	goTool, err := exec.LookPath("go") // go test puts its own go on PATH
	if err != nil {
		t.Fatalf("the go tool: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	const module = "github.com/einwurf/einwurf/"
	var ours int
	for _, d := range deps {
		if strings.HasPrefix(d, module) {
			ours++
		}
		p := strings.TrimPrefix(d, module)
		switch {
		case strings.HasSuffix(d, "/sim") || strings.Contains(d, "/sim/"),
			strings.HasPrefix(p, "central/"), p == "central",
			strings.HasPrefix(p, "firmware/broker"),
			strings.HasPrefix(p, "firmware/cmd/einwurf-sim"),
			strings.Contains(d, "mochi-mqtt"):
			t.Errorf("einwurfd links %s", d)
		}
	}
	// The list is the real graph, not an empty answer.
	for _, want := range []string{module + "firmware/appliance", module + "drivers/scanner/ippusb", module + "firmware/uplink"} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("einwurfd's dependencies lack %s:\n%s", want, out)
		}
	}
	if ours < 10 {
		t.Fatalf("only %d of this module's packages in einwurfd", ours)
	}
}
