package board

import (
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
	"periph.io/x/conn/v3/gpio"
)

// requestCdevEdges asks the chip at chipPath for offsets as one edge
// detecting input set and returns the request's event file.
func requestCdevEdges(chipPath string, offsets []int, pull gpio.Pull) (*os.File, error) {
	req, err := newCdevRequest(offsets, pull, filepath.Base(os.Args[0]))
	if err != nil {
		return nil, err
	}
	chip, err := os.OpenFile(chipPath, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("board: open %s: %w", chipPath, err)
	}
	defer chip.Close()
	rc, err := chip.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("board: %w", err)
	}
	var errno unix.Errno
	if cerr := rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, cdevGetLineIoctl, uintptr(unsafe.Pointer(req)))
	}); cerr != nil {
		return nil, fmt.Errorf("board: %w", cerr)
	}
	if errno != 0 {
		return nil, fmt.Errorf("board: request lines %v on %s: %w", offsets, chipPath, errno)
	}
	// Non-blocking, so reads honour deadlines through the runtime poller.
	if err := unix.SetNonblock(int(req.Fd), true); err != nil {
		unix.Close(int(req.Fd))
		return nil, fmt.Errorf("board: %w", err)
	}
	return os.NewFile(uintptr(req.Fd), "gpio-edges"), nil
}
