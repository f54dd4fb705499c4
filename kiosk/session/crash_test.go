package session

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner/sim"
)

// crashChildEnv makes the test binary play the kiosk that crashes.
const crashChildEnv = "EINWURF_SESSION_CRASH_CHILD"

// TestCrashChild is the kiosk process of TestCrashLeavesNothingReadable:
// it scans a visit, says so and waits to be killed.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("the child of TestCrashLeavesNothingReadable")
	}
	k, _, _, _, _ := setup(t, sim.Options{Sheets: 3, Duplex: true, Code: "035F083761"})
	if err := k.Identify("035F083761"); err != nil {
		t.Fatal(err)
	}
	if err := k.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := k.View()
	if _, err := k.Thumbnail(v.Thumbs, 0, 200); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ready %d\n", v.Scanned)
	time.Sleep(time.Minute)
}

// TestCrashLeavesNothingReadable kills a kiosk process in the middle of a
// visit (pages scanned, preview built) with SIGKILL and looks for page or
// PDF bytes in every file it could have written: there must be none.
func TestCrashLeavesNothingReadable(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	// Whatever the child writes to a temporary folder lands in tmp.
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", "TMPDIR="+tmp)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "ready ") {
			ready = sc.Text() == "ready 6"
			break
		}
	}
	if !ready {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the child did not scan its visit (last line %q)", sc.Text())
	}
	// The pages are held by the process while it lives (memory files).
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", cmd.Process.Pid))
	mem := 0
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.Contains(l, "memfd:einwurf") {
			mem++
		}
	}
	if mem < 7 { // six pages and the preview
		t.Errorf("the living process holds %d memory files, want at least 7", mem)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	files := 0
	err = filepath.WalkDir(tmp, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, magic := range [][]byte{{0xff, 0xd8, 0xff}, []byte("%PDF-"), []byte("035F083761")} {
			if bytes.Contains(b, magic) {
				t.Errorf("readable page data (%q) after the crash in %s", magic, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files left on disk after SIGKILL; the process held %d memory files", files, mem)
}
