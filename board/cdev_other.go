//go:build !linux

package board

import (
	"errors"
	"os"

	"periph.io/x/conn/v3/gpio"
)

func requestCdevEdges(string, []int, gpio.Pull) (*os.File, error) {
	return nil, errors.New("board: GPIO edge sets need Linux")
}
