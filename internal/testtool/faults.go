package testtool

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// ReadOnly makes dir refuse new files, a real fault of the file system (not
// a double): mode 0555 for an ordinary user; for root, whom modes do not
// stop, the immutable attribute (chattr +i). It returns the function that
// undoes it (also run at the end of the test). Where neither works, the
// test is skipped (failed under CI=true).
func ReadOnly(t testing.TB, dir string) (undo func()) {
	t.Helper()
	var restore func() error
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		restore = func() error { return os.Chmod(dir, 0o755) }
	} else {
		chattr := NeedTool(t, "chattr")
		if out, err := exec.Command(chattr, "+i", dir).CombinedOutput(); err != nil {
			SkipOrFail(t, "chattr +i %s: %s", dir, out)
		}
		restore = func() error { return exec.Command(chattr, "-i", dir).Run() }
	}
	done := false
	undo = func() {
		if !done {
			done = true
			if err := restore(); err != nil {
				t.Errorf("undo read-only %s: %v", dir, err)
			}
		}
	}
	t.Cleanup(undo)
	probe := filepath.Join(dir, ".probe")
	if f, err := os.Create(probe); err == nil {
		f.Close()
		os.Remove(probe)
		undo()
		SkipOrFail(t, "cannot make %s read-only here", dir)
	}
	return undo
}

// FewDescriptors lowers the process's limit of open files to what is open
// now plus spare, so that the next opens fail with EMFILE, a real fault of
// the kernel. It returns the function that restores the limit (also run at
// the end of the test). Tests using it must not run in parallel.
func FewDescriptors(t testing.TB, spare int) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		SkipOrFail(t, "no /proc/self/fd: %v", err)
	}
	top := 0
	for _, fd := range fds {
		if n, err := strconv.Atoi(fd.Name()); err == nil && n > top {
			top = n
		}
	}
	// New descriptors take the lowest free number: fill the gaps below
	// top, so that exactly spare more can be opened.
	var fillers []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		if int(f.Fd()) > top {
			f.Close()
			break
		}
		fillers = append(fillers, f)
	}
	lim := old
	lim.Cur = uint64(top + 1 + spare)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	done := false
	restore = func() {
		if !done {
			done = true
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
				t.Errorf("restore the descriptor limit: %v", err)
			}
			for _, f := range fillers {
				f.Close()
			}
		}
	}
	t.Cleanup(restore)
	return restore
}

// IsEMFILE reports whether err is "too many open files".
func IsEMFILE(err error) bool { return errors.Is(err, syscall.EMFILE) }
