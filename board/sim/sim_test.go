package sim

import (
	"errors"
	"testing"
	"time"

	"github.com/einwurf/einwurf/board"
	"periph.io/x/conn/v3/gpio"
)

func newBoard(t *testing.T) *Board {
	t.Helper()
	b, err := NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestNewRefusesForeignProfile(t *testing.T) {
	p, err := board.LoadProfile("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(p); !errors.Is(err, board.ErrProfile) {
		t.Fatalf("err = %v, want ErrProfile", err)
	}
	bad, err := board.ParseProfile([]byte(`{"name":"s","chip":"sim0","lines":{"buzzer":{"name":"SIM_BUZZER"},"tamper":{"offset":7}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(bad); !errors.Is(err, board.ErrProfile) {
		t.Fatalf("doubly used line: err = %v", err)
	}
}

func TestOutputsAndInputs(t *testing.T) {
	b := newBoard(t)
	l, err := b.Line(board.ReaderTrigger) // active low in the sim profile
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Set(true); err != nil {
		t.Fatal(err)
	}
	pin, _ := b.Pin(board.ReaderTrigger)
	if pin.Read() != gpio.Low {
		t.Fatal("asserted active-low trigger should be low")
	}
	if on, _ := b.Asserted(board.ReaderTrigger); !on {
		t.Fatal("Asserted = false")
	}
	// Inputs idle released: the active-low service key is high.
	key, _ := b.Pin(board.ServiceKey)
	if key.Read() != gpio.High {
		t.Fatal("released active-low input is not high")
	}
	kl, _ := b.Line(board.ServiceKey)
	if err := kl.In(kl.Pull, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	if err := b.DriveAsserted(board.ServiceKey, true); err != nil {
		t.Fatal(err)
	}
	if !kl.WaitForEdge(time.Second) || !kl.Asserted() {
		t.Fatal("driven edge not seen by WaitForEdge")
	}
	if _, err := b.Line("nosuch"); !errors.Is(err, board.ErrNoSignal) {
		t.Fatalf("err = %v", err)
	}
}

func TestEdgeSetOrderAndTiming(t *testing.T) {
	b := newBoard(t)
	es, err := b.Edges(board.WiegandD0, board.WiegandD1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Edges(board.WiegandD1); err == nil {
		t.Fatal("second edge set on the same line accepted")
	}
	start := time.Unix(1000, 0)
	rec := []Event{
		{board.WiegandD1, gpio.Low, 2 * time.Millisecond},
		{board.WiegandD1, gpio.High, 2*time.Millisecond + 50*time.Microsecond},
		{board.WiegandD0, gpio.Low, 0},
		{board.WiegandD0, gpio.High, 50 * time.Microsecond},
	}
	if err := b.Play(start, rec); err != nil {
		t.Fatal(err)
	}
	want := []board.Edge{
		{Index: 0, Level: gpio.Low, Time: start},
		{Index: 0, Level: gpio.High, Time: start.Add(50 * time.Microsecond)},
		{Index: 1, Level: gpio.Low, Time: start.Add(2 * time.Millisecond)},
		{Index: 1, Level: gpio.High, Time: start.Add(2*time.Millisecond + 50*time.Microsecond)},
	}
	for i, w := range want {
		e, ok, err := es.WaitForEdge(time.Second)
		if err != nil || !ok {
			t.Fatalf("edge %d: ok=%v err=%v", i, ok, err)
		}
		if e.Index != w.Index || e.Level != w.Level || !e.Time.Equal(w.Time) {
			t.Fatalf("edge %d = %+v, want %+v", i, e, w)
		}
	}
	if _, ok, err := es.WaitForEdge(5 * time.Millisecond); ok || err != nil {
		t.Fatalf("extra edge: ok=%v err=%v", ok, err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := es.WaitForEdge(10 * time.Second)
		done <- err
	}()
	time.Sleep(5 * time.Millisecond)
	es.Close()
	select {
	case err := <-done:
		if !errors.Is(err, board.ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake WaitForEdge")
	}
	// The lines are free again.
	es2, err := b.Edges(board.WiegandD1)
	if err != nil {
		t.Fatal(err)
	}
	es2.Close()
}

func TestEdgeOverflow(t *testing.T) {
	b := newBoard(t)
	if _, err := b.Edges(board.WiegandD0); err != nil {
		t.Fatal(err)
	}
	var evs []Event
	for i := range edgeBuffer + 2 {
		evs = append(evs, Event{board.WiegandD0, gpio.Level(i%2 == 1), time.Duration(i) * time.Millisecond})
	}
	if err := b.Play(time.Now(), evs); !errors.Is(err, ErrEdgeOverflow) {
		t.Fatalf("err = %v, want ErrEdgeOverflow", err)
	}
}

// TestFailLines: FailLines makes an open edge set's waits fail for good
// (a waiting one wakes) and refuses new sets; after RestoreLines the lines
// can be requested again once the failed set is closed, and carry edges.
func TestFailLines(t *testing.T) {
	b, err := NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	es, err := b.Edges(board.WiegandD0)
	if err != nil {
		t.Fatal(err)
	}
	woke := make(chan error, 1)
	go func() { _, _, err := es.WaitForEdge(time.Minute); woke <- err }()
	b.FailLines()
	if err := <-woke; !errors.Is(err, ErrLineFault) {
		t.Fatalf("waiting: %v", err)
	}
	if _, _, err := es.WaitForEdge(0); !errors.Is(err, ErrLineFault) {
		t.Fatalf("after: %v", err)
	}
	if _, err := b.Edges(board.WiegandD1); !errors.Is(err, ErrLineFault) {
		t.Fatalf("Edges while failed: %v", err)
	}
	b.RestoreLines()
	if _, _, err := es.WaitForEdge(0); !errors.Is(err, ErrLineFault) {
		t.Fatalf("the failed set came back: %v", err)
	}
	es.Close()
	es, err = b.Edges(board.WiegandD0)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	if err := b.Drive(board.WiegandD0, gpio.Low); err != nil {
		t.Fatal(err)
	}
	if e, ok, err := es.WaitForEdge(time.Minute); err != nil || !ok || e.Level != gpio.Low {
		t.Fatalf("edge %+v %v %v", e, ok, err)
	}
}
