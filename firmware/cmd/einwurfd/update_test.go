package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/firmware/config"
	"github.com/einwurf/einwurf/ota"
	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/ubootenv"
)

// TestRootfsConfigChecked: update.rootfs that does not fit the running
// system (no fw_env.config, no einwurf.slot= on the command line, no
// version, no valid environment) stops a start and -check-config with a
// message naming it, before anything is created; one that fits passes.
func TestRootfsConfigChecked(t *testing.T) {
	dir := t.TempDir()
	if _, err := keys.Generate(filepath.Join(dir, "central")); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, "central", "central.pub.json")
	disk := filepath.Join(dir, "disk.img")
	os.WriteFile(disk, make([]byte, 2<<20), 0o644)
	envConf := filepath.Join(dir, "fw_env.config")
	os.WriteFile(envConf, []byte(disk+" 0x100000 0x4000\n"), 0o644)
	empty := filepath.Join(dir, "fw_env-empty.config")
	os.WriteFile(empty, []byte(filepath.Join(dir, "blank.img")+" 0x0 0x4000\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "blank.img"), make([]byte, 0x4000), 0o644)
	cmdA, cmdNone := filepath.Join(dir, "cmdline-a"), filepath.Join(dir, "cmdline-none")
	os.WriteFile(cmdA, []byte("root=/dev/vda2 einwurf.slot=a\n"), 0o644)
	os.WriteFile(cmdNone, []byte("root=/dev/vda2\n"), 0o644)
	osRel, noVer := filepath.Join(dir, "os-release"), filepath.Join(dir, "os-release-none")
	os.WriteFile(osRel, []byte("ID=einwurf\nIMAGE_VERSION=\"1.4\"\n"), 0o644)
	os.WriteFile(noVer, []byte("ID=einwurf\n"), 0o644)
	cfg, _ := ubootenv.ParseConfig([]byte(disk + " 0x100000 0x4000\n"))
	if err := ota.RootfsSlots(durable.OS{}, cfg, "/dev/vda2", "/dev/vda3").Init("a"); err != nil {
		t.Fatal(err)
	}
	body := func(env, cmdline, version string) string {
		return fmt.Sprintf(`{"board":"rpi4","kiosk_id":"k-0001","scanner":{"url":"http://127.0.0.1:9/eSCL"},`+
			`"mqtt":{"brokers":["tcp://127.0.0.1:9"],"central_pub":%q},"update":{"transport":"mqtt","root":"/r.json",`+
			`"rootfs":{"slot_a":"/dev/vda2","slot_b":"/dev/vda3","fw_env_config":%q,"cmdline":%q,"version_file":%q}}}`,
			pub, env, cmdline, version)
	}
	write := func(name, b string) string {
		p := filepath.Join(dir, name+".json")
		os.WriteFile(p, []byte(b), 0o600)
		return p
	}
	for _, c := range []struct{ name, body, want string }{
		{"no fw_env.config", body(filepath.Join(dir, "missing.config"), cmdA, osRel), "fw_env_config"},
		{"no environment", body(empty, cmdA, osRel), "U-Boot environment"},
		{"no slot on the command line", body(envConf, cmdNone, osRel), "einwurf.slot"},
		{"no version", body(envConf, cmdA, noVer), "IMAGE_VERSION"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := write(strings.ReplaceAll(c.name, " ", "-"), c.body)
			data := filepath.Join(t.TempDir(), "data")
			for _, args := range [][]string{{"-config", path, "-data", data}, {"-check-config", path, "-data", data}} {
				var out bytes.Buffer
				err := run(context.Background(), args, &out, &out)
				if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%v: %v (want an error naming %s)", args[0], err, c.want)
				}
				if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%v created %s", args[0], data)
				}
			}
		})
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-check-config", write("good", body(envConf, cmdA, osRel)), "-data", filepath.Join(dir, "d")}, &out, &out); err != nil {
		t.Fatalf("a fitting rootfs section: %v\n%s", err, out.String())
	}
}
