package ramfolder

import (
	"os"

	"golang.org/x/sys/unix"
)

func memfd(label string) (*os.File, error) {
	fd, err := unix.MemfdCreate("einwurf-"+label, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "memfd"), nil
}
