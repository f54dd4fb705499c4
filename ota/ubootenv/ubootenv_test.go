package ubootenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/internal/testtool"
)

// fileEnv makes a file-backed environment (two copies in one file when
// redundant, at offsets 0 and 0x4000) and its fw_env.config.
func fileEnv(t *testing.T, redundant bool) (Config, string) {
	t.Helper()
	dir := t.TempDir()
	dev := filepath.Join(dir, "uboot.env")
	if err := os.WriteFile(dev, make([]byte, 0x8000), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("# device offset size\n%s 0x0000 0x4000\n", dev)
	if redundant {
		conf += fmt.Sprintf("%s\t0x4000\t0x4000 # second copy\n", dev)
	}
	path := filepath.Join(dir, "fw_env.config")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, path
}

// printenv runs the real fw_printenv and parses its output.
func printenv(t *testing.T, conf string) map[string]string {
	t.Helper()
	out, err := exec.Command(testtool.NeedTool(t, "fw_printenv"), "-c", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("fw_printenv: %v\n%s", err, out)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("fw_printenv line %q", l)
		}
		m[k] = v
	}
	return m
}

func setenv(t *testing.T, conf string, args ...string) {
	t.Helper()
	out, err := exec.Command(testtool.NeedTool(t, "fw_setenv"), append([]string{"-c", conf}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("fw_setenv %v: %v\n%s", args, err, out)
	}
}

func TestAgainstLibubootenv(t *testing.T) {
	for _, redundant := range []bool{false, true} {
		t.Run(fmt.Sprintf("redundant=%v", redundant), func(t *testing.T) {
			cfg, conf := fileEnv(t, redundant)
			want := map[string]string{"boot_slot": "a", "bootlimit": "3", "bootcount": "0",
				"upgrade_available": "0", "bootargs": "console=ttyAMA0 root=/dev/vda2 rootwait"}
			e, err := Create(cfg, want)
			if err != nil {
				t.Fatal(err)
			}
			if got := printenv(t, conf); !reflect.DeepEqual(got, want) {
				t.Fatalf("fw_printenv after Create: %v, want %v", got, want)
			}
			// Our changes, several times (alternating copies), read by fw_printenv.
			for i := 0; i < 5; i++ {
				slot := []string{"b", "a"}[i%2]
				if err := e.Set(map[string]string{"boot_slot": slot, "upgrade_available": "1", "bootcount": ""}); err != nil {
					t.Fatal(err)
				}
				want["boot_slot"], want["upgrade_available"] = slot, "1"
				delete(want, "bootcount")
				if got := printenv(t, conf); !reflect.DeepEqual(got, want) {
					t.Fatalf("step %d: fw_printenv %v, want %v", i, got, want)
				}
			}
			// fw_setenv's changes, read by us (and then changed by us again).
			for i := 0; i < 3; i++ {
				setenv(t, conf, "bootcount", fmt.Sprint(i+1))
				want["bootcount"] = fmt.Sprint(i + 1)
				e, err = Open(cfg)
				if err != nil {
					t.Fatal(err)
				}
				if got := e.All(); !reflect.DeepEqual(got, want) {
					t.Fatalf("after fw_setenv %d: %v, want %v", i, got, want)
				}
				if err := e.Set(map[string]string{"upgrade_available": "0"}); err != nil {
					t.Fatal(err)
				}
				want["upgrade_available"] = "0"
				if got := printenv(t, conf); !reflect.DeepEqual(got, want) {
					t.Fatalf("fw_printenv after our set %d: %v, want %v", i, got, want)
				}
			}
		})
	}
}

// A write torn by a power cut leaves the copy being written invalid: the
// other copy, the state before the change, is read (by us and by
// fw_printenv).
func TestTornWriteKeepsOldCopy(t *testing.T) {
	cfg, conf := fileEnv(t, true)
	e, err := Create(cfg, map[string]string{"boot_slot": "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Set(map[string]string{"boot_slot": "b"}); err != nil {
		t.Fatal(err)
	}
	// Tear the current copy: half of it zeroed.
	cur := cfg.Copies[e.current]
	f, err := os.OpenFile(cur.Device, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xff}, 64), cur.Offset+3); err != nil {
		t.Fatal(err)
	}
	f.Close()
	e2, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := e2.Get("boot_slot"); v != "a" {
		t.Fatalf("after torn write: boot_slot=%q, want the old a", v)
	}
	if got := printenv(t, conf)["boot_slot"]; got != "a" {
		t.Fatalf("fw_printenv after torn write: %q", got)
	}
	// Tear the other copy too: nothing valid is left.
	other := cfg.Copies[1-e.current]
	f, _ = os.OpenFile(other.Device, os.O_RDWR, 0)
	f.WriteAt([]byte{1, 2, 3, 4}, other.Offset)
	f.Close()
	if _, err := Open(cfg); !errors.Is(err, ErrNoValidCopy) {
		t.Fatalf("both copies torn: %v, want ErrNoValidCopy", err)
	}
}

func TestFlagWraps(t *testing.T) {
	if !newer(0, 255) || newer(255, 0) || !newer(2, 1) || newer(1, 1) {
		t.Fatal("flag order")
	}
	cfg, conf := fileEnv(t, true)
	e, err := Create(cfg, map[string]string{"n": "0"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 260; i++ {
		if err := e.Set(map[string]string{"n": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	e, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := e.Get("n"); v != "260" {
		t.Fatalf("after 260 writes (flag wrapped): n=%s", v)
	}
	if got := printenv(t, conf)["n"]; got != "260" {
		t.Fatalf("fw_printenv after wrap: n=%s", got)
	}
}

func TestRejects(t *testing.T) {
	for _, c := range []string{"", "# only a comment\n", "/dev/x 0x0\n", "/dev/x zz 0x4000\n",
		"/dev/x 0 0x4000\n/dev/y 0 0x4000\n/dev/z 0 0x4000\n", "/dev/x 0 0x4000\n/dev/y 0 0x2000\n",
		"/dev/x 0 4\n", "/dev/x -1 0x4000\n"} {
		if _, err := ParseConfig([]byte(c)); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseConfig(%q) = %v, want ErrConfig", c, err)
		}
	}
	buf, _ := Encode(map[string]string{"a": "1"}, 64, false, 0)
	buf[10] ^= 1
	if _, _, err := Decode(buf, false); !errors.Is(err, ErrNoValidCopy) {
		t.Fatalf("flipped bit: %v", err)
	}
	if _, err := Encode(map[string]string{"a=b": "1"}, 64, false, 0); !errors.Is(err, ErrName) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := Encode(map[string]string{"a": strings.Repeat("x", 100)}, 64, false, 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	cfg, _ := fileEnv(t, true)
	e, _ := Create(cfg, map[string]string{"a": "1"})
	if err := e.Set(map[string]string{"x": strings.Repeat("y", 0x5000)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("set too large: %v", err)
	}
	if v, _ := e.Get("a"); v != "1" || len(e.All()) != 1 {
		t.Fatal("a refused set changed the environment")
	}
}

func FuzzDecode(f *testing.F) {
	for _, red := range []bool{false, true} {
		b, _ := Encode(map[string]string{"boot_slot": "a", "bootcount": "1"}, 128, red, 3)
		f.Add(b, red)
	}
	f.Fuzz(func(t *testing.T, b []byte, red bool) {
		vars, flag, err := Decode(b, red)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		out, err := Encode(vars, len(b), red, flag)
		if err != nil {
			return // fits only with the original's layout
		}
		again, _, err := Decode(out, red)
		if err != nil || !reflect.DeepEqual(again, vars) {
			t.Fatalf("round trip: %v %v vs %v", err, again, vars)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("/dev/mmcblk0 0x3f0000 0x4000\n/dev/mmcblk0 0x3f8000 0x4000 0x1000 2\n"))
	f.Add([]byte("# c\n/dev/mtd1 0 0x20000 0x20000\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		if len(c.Copies) < 1 || len(c.Copies) > 2 {
			t.Fatalf("%d copies", len(c.Copies))
		}
		for _, l := range c.Copies {
			if l.Size < 8 || l.Size > MaxSize || l.Offset < 0 {
				t.Fatalf("accepted %+v", l)
			}
		}
	})
}
