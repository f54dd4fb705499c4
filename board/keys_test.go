package board_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/board/sim"
)

func nextKey(t *testing.T, keys <-chan board.Signal) board.Signal {
	t.Helper()
	select {
	case k := <-keys:
		return k
	case <-time.After(5 * time.Second):
		t.Fatal("no key")
	}
	return ""
}

// Every panel key of the profiles is mapped, and a press on the simulated
// board reaches WatchKeys once, bounces and releases not at all.
func TestWatchKeys(t *testing.T) {
	for _, name := range []string{"generic", "rpi4", "sim"} {
		p, err := board.LoadProfile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range board.PanelKeys {
			if l, ok := p.Lines[k]; !ok || !l.ActiveLow || l.Pull != "up" {
				t.Errorf("%s: panel key %s: %+v %v", name, k, l, ok)
			}
		}
	}
	b, err := sim.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys, err := board.WatchKeys(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range board.PanelKeys {
		if err := b.DriveAsserted(k, true); err != nil {
			t.Fatal(err)
		}
		if err := b.DriveAsserted(k, false); err != nil {
			t.Fatal(err)
		}
		if got := nextKey(t, keys); got != k {
			t.Fatalf("pressed %s, got %s", k, got)
		}
	}
	// A bouncing contact: press, 3 ms open, 2 ms closed, then released;
	// and 200 ms later a second, real press.
	t0 := time.Now().Add(time.Second) // well after the presses above
	if err := b.Play(t0, []sim.Event{
		{Signal: board.KeyRepeat, Level: gpio.Low, At: 0},
		{Signal: board.KeyRepeat, Level: gpio.High, At: 3 * time.Millisecond},
		{Signal: board.KeyRepeat, Level: gpio.Low, At: 5 * time.Millisecond},
		{Signal: board.KeyRepeat, Level: gpio.High, At: 80 * time.Millisecond},
		{Signal: board.KeyVolumeUp, Level: gpio.Low, At: 100 * time.Millisecond},
		{Signal: board.KeyVolumeUp, Level: gpio.High, At: 150 * time.Millisecond},
		{Signal: board.KeyRepeat, Level: gpio.Low, At: 200 * time.Millisecond},
		{Signal: board.KeyRepeat, Level: gpio.High, At: 260 * time.Millisecond},
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []board.Signal{board.KeyRepeat, board.KeyVolumeUp, board.KeyRepeat} {
		if got := nextKey(t, keys); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	select {
	case k := <-keys:
		t.Fatalf("a bounce became the press %s", k)
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	for range keys { // closed when ctx ends
	}

	// A profile without panel keys has none to watch.
	p := b.Profile()
	p.Lines = map[board.Signal]board.LineSpec{board.Tamper: p.Lines[board.Tamper]}
	nb, err := sim.New(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := board.WatchKeys(context.Background(), nb); !errors.Is(err, board.ErrNoSignal) {
		t.Fatalf("no panel keys: %v", err)
	}
}
