// Package wiegandtest makes Wiegand frames for tests: the bits of a card
// number with its parity, and the pulses a reader sends for them on
// board/sim's D0 and D1 lines (as recorded from real readers: a 50 µs low
// pulse every 2 ms). It does not import the decoder it tests.
package wiegandtest

import (
	"fmt"
	"time"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/board/sim"
	"periph.io/x/conn/v3/gpio"
)

// Bits returns the frame of number, frameBits long, as a string of '0'
// and '1': with parity, the leading bit makes the first half of the data
// bits even and the trailing bit the second half odd (the middle bit of an
// odd count belongs to both, as the wiegand decoder reads it).
func Bits(frameBits int, parity bool, number uint64) (string, error) {
	n := frameBits
	if parity {
		n -= 2
	}
	if n < 1 || n > 64 {
		return "", fmt.Errorf("wiegandtest: %d data bits", n)
	}
	if n < 64 && number>>n != 0 {
		return "", fmt.Errorf("wiegandtest: %d does not fit in %d bits", number, n)
	}
	data := make([]byte, n)
	for i := range n {
		data[i] = byte(number >> (n - 1 - i) & 1)
	}
	if !parity {
		return string(ascii(data)), nil
	}
	first, second := data[:(n+1)/2], data[n/2:]
	lead, trail := ones(first)%2, 1-ones(second)%2
	return string(ascii(append(append([]byte{byte(lead)}, data...), byte(trail)))), nil
}

func ones(b []byte) int {
	c := 0
	for _, x := range b {
		c += int(x)
	}
	return c
}

func ascii(b []byte) []byte {
	out := make([]byte, len(b))
	for i, x := range b {
		out[i] = '0' + x
	}
	return out
}

// Standard pulse timing: a 50 µs low pulse every 2 ms.
const (
	Width    = 50 * time.Microsecond
	Interval = 2 * time.Millisecond
)

// Pulses are the edges a reader makes for bits from t0 on: a low pulse of
// width on D0 for a 0 and on D1 for a 1, their starts interval apart, for
// board/sim's Play.
func Pulses(bits string, t0, width, interval time.Duration) []sim.Event {
	var evs []sim.Event
	t := t0
	for _, b := range bits {
		s := board.WiegandD0
		if b == '1' {
			s = board.WiegandD1
		}
		evs = append(evs, sim.Event{Signal: s, Level: gpio.Low, At: t}, sim.Event{Signal: s, Level: gpio.High, At: t + width})
		t += interval
	}
	return evs
}

// Present plays the frame (frameBits long, with parity, e.g. 26 or 34) of
// number on b's Wiegand lines with the standard timing, as a badge held to
// the reader now.
func Present(b *sim.Board, frameBits int, number uint64) error {
	bits, err := Bits(frameBits, true, number)
	if err != nil {
		return err
	}
	return b.Play(time.Now(), Pulses(bits, 0, Width, Interval))
}
