package watchdog

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// setTimeout sets the time-out with WDIOC_SETTIMEOUT and reads back what
// the driver took with WDIOC_GETTIMEOUT (drivers round or clamp).
func setTimeout(f *os.File, d time.Duration) (time.Duration, error) {
	fd := int(f.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, int(d/time.Second)); err != nil {
		return 0, err
	}
	got, err := unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT)
	if err != nil {
		return 0, err
	}
	return time.Duration(got) * time.Second, nil
}

// keepalive pets the watchdog with WDIOC_KEEPALIVE; the kernel ignores the
// argument.
func keepalive(f *os.File) error {
	return unix.IoctlSetInt(int(f.Fd()), unix.WDIOC_KEEPALIVE, 0)
}
