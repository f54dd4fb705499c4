//go:build !linux

package watchdog

import (
	"errors"
	"os"
	"time"
)

var errNotLinux = errors.New("hardware watchdog needs Linux")

func setTimeout(*os.File, time.Duration) (time.Duration, error) { return 0, errNotLinux }

func keepalive(*os.File) error { return errNotLinux }
