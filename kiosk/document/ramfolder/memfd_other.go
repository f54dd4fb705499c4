//go:build !linux

package ramfolder

import (
	"errors"
	"os"
)

func memfd(string) (*os.File, error) {
	return nil, errors.New("memory files need Linux")
}
