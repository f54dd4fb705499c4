// Package board is the hardware of one kiosk board as the drivers see it:
// which GPIO line carries which logical signal (read from a profile data
// file), lines as periph gpio.PinIO, and edges of several lines in kernel
// order for decoders such as Wiegand. Open gives the real board through the
// Linux GPIO character device; board/sim gives a simulated one built from
// periph gpiotest pins, so drivers run the same code on both.
package board

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Signal is a logical signal a profile maps to a GPIO line.
type Signal string

// The signals a kiosk knows. A profile maps any subset of them; a driver
// asks for the ones it needs and gets ErrNoSignal for a missing one.
const (
	// ReaderTrigger is an output that starts a decode on a 2D imager.
	ReaderTrigger Signal = "reader_trigger"
	// ReaderGoodRead is an input the imager pulses after a good read.
	ReaderGoodRead Signal = "reader_good_read"
	// WiegandD0 is the Wiegand data-0 line: a low pulse sends a 0 bit.
	WiegandD0 Signal = "wiegand_d0"
	// WiegandD1 is the Wiegand data-1 line: a low pulse sends a 1 bit.
	WiegandD1 Signal = "wiegand_d1"
	// LightGreen, LightAmber and LightRed are the status lights.
	LightGreen Signal = "light_green"
	LightAmber Signal = "light_amber"
	LightRed   Signal = "light_red"
	// Buzzer is the buzzer output.
	Buzzer Signal = "buzzer"
	// ServiceKey is the service key switch input; asserted means turned.
	ServiceKey Signal = "service_key"
	// Tamper is the tamper switch input; asserted means the case is open.
	Tamper Signal = "tamper"
	// ScannerPower switches the scanner's power relay; asserted means on.
	ScannerPower Signal = "scanner_power"
	// The panel keys beside the headphone jack (an audio-navigation
	// keypad, EN 301 549 closed functionality): inputs, asserted while
	// pressed. Prev and Next move between the screen's controls, Select
	// activates the one that has the focus, Repeat reads the screen again,
	// VolumeUp and VolumeDown change the speech volume.
	KeyPrev       Signal = "key_prev"
	KeyNext       Signal = "key_next"
	KeySelect     Signal = "key_select"
	KeyRepeat     Signal = "key_repeat"
	KeyVolumeUp   Signal = "key_volume_up"
	KeyVolumeDown Signal = "key_volume_down"
)

// PanelKeys are the panel key signals, in a stable order.
var PanelKeys = []Signal{KeyPrev, KeyNext, KeySelect, KeyRepeat, KeyVolumeUp, KeyVolumeDown}

// Signals lists every known signal, in a stable order.
var Signals = []Signal{
	ReaderTrigger, ReaderGoodRead, WiegandD0, WiegandD1,
	LightGreen, LightAmber, LightRed, Buzzer,
	ServiceKey, Tamper, ScannerPower,
	KeyPrev, KeyNext, KeySelect, KeyRepeat, KeyVolumeUp, KeyVolumeDown,
}

// Known reports whether s is one of Signals.
func (s Signal) Known() bool {
	for _, k := range Signals {
		if k == s {
			return true
		}
	}
	return false
}

// Errors the board reports.
var (
	// ErrNoSignal means the profile does not map the signal asked for.
	ErrNoSignal = errors.New("board: signal not mapped by the profile")
	// ErrProfile marks a profile that is refused: unparsable, naming an
	// unknown signal, a missing line or a line used twice.
	ErrProfile = errors.New("board: bad profile")
	// ErrNoGPIO means the machine has no GPIO character devices.
	ErrNoGPIO = errors.New("board: no GPIO chips (/dev/gpiochip*) found")
	// ErrClosed is returned by an EdgeSource after Close.
	ErrClosed = errors.New("board: closed")
)

// Line is a GPIO line with its meaning: the pin plus whether the signal is
// asserted by a low level, and the pull the profile asks for on inputs.
type Line struct {
	gpio.PinIO
	// Signal is the signal this line carries.
	Signal Signal
	// ActiveLow means the signal is asserted when the line is low.
	ActiveLow bool
	// Pull is the bias to use when the line is an input.
	Pull gpio.Pull
}

// Level returns the electrical level that means asserted (on) or not.
func (l Line) Level(on bool) gpio.Level {
	return gpio.Level(on != l.ActiveLow)
}

// Set drives the line as an output, asserted or not.
func (l Line) Set(on bool) error {
	if err := l.Out(l.Level(on)); err != nil {
		return fmt.Errorf("board: set %s: %w", l.Signal, err)
	}
	return nil
}

// Asserted reads the line and reports whether the signal is asserted.
func (l Line) Asserted() bool {
	return l.Read() == l.Level(true)
}

// Edge is one level change on a line of an EdgeSource.
type Edge struct {
	// Index is the position of the line's signal in the list given to
	// Board.Edges.
	Index int
	// Level is the line's level after the edge: High for a rising edge.
	Level gpio.Level
	// Time is when the edge happened. Recorded sequences carry their own
	// times; real lines are stamped when the edge is read.
	Time time.Time
}

// EdgeSource delivers the edges of several lines in the order the kernel
// saw them, which a decoder needs when two lines together form one signal.
type EdgeSource interface {
	// WaitForEdge waits up to timeout for the next edge. ok is false when
	// the time-out passed first. After Close it returns ErrClosed.
	WaitForEdge(timeout time.Duration) (e Edge, ok bool, err error)
	// Close releases the lines and wakes a waiting WaitForEdge.
	Close() error
}

// Board is one kiosk board.
type Board interface {
	// Profile returns the profile the board was opened with.
	Profile() Profile
	// Line returns the line that carries s, or ErrNoSignal.
	Line(s Signal) (Line, error)
	// Edges requests the lines of signals as one set, both edges, inputs
	// with the profile's pull. Lines in a set are not available through
	// Line on a real board (the kernel hands each line out once).
	Edges(signals ...Signal) (EdgeSource, error)
	// Close releases every line.
	Close() error
}
