package board

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"periph.io/x/conn/v3/gpio"
)

func TestCdevABI(t *testing.T) {
	// Sizes and the ioctl number of linux/gpio.h on 64-bit kernels.
	if n := unsafe.Sizeof(cdevRequest{}); n != 592 {
		t.Fatalf("gpio_v2_line_request is %d bytes, want 592", n)
	}
	if n := unsafe.Sizeof(cdevConfig{}); n != 272 {
		t.Fatalf("gpio_v2_line_config is %d bytes, want 272", n)
	}
	if cdevGetLineIoctl != 0xC250B407 {
		t.Fatalf("GPIO_V2_GET_LINE_IOCTL = %#x", cdevGetLineIoctl)
	}
	if off := unsafe.Offsetof(cdevRequest{}.Fd); off != 588 {
		t.Fatalf("fd at %d, want 588", off)
	}
}

func TestCdevRequest(t *testing.T) {
	r, err := newCdevRequest([]int{17, 27}, gpio.PullUp, "einwurfd-with-a-very-long-consumer-name")
	if err != nil {
		t.Fatal(err)
	}
	if r.NumLines != 2 || r.Offsets[0] != 17 || r.Offsets[1] != 27 || r.EventBufferSize != cdevEventBuffer {
		t.Fatalf("request %+v", r)
	}
	if want := uint64(cdevFlagInput | cdevFlagRising | cdevFlagFalling | cdevFlagPullUp); r.Config.Flags != want {
		t.Fatalf("flags %#x, want %#x", r.Config.Flags, want)
	}
	if r.Consumer[cdevNameSize-1] != 0 || !strings.HasPrefix(string(r.Consumer[:]), "einwurfd") {
		t.Fatalf("consumer %q not NUL-terminated", r.Consumer)
	}
	for _, bad := range [][]int{nil, {-1}, make([]int, 65)} {
		if _, err := newCdevRequest(bad, gpio.PullNoChange, "x"); err == nil {
			t.Errorf("request for %v accepted", bad)
		}
	}
}

func TestCdevRequestOnNonGPIOFile(t *testing.T) {
	if _, err := requestCdevEdges("/dev/null", []int{1}, gpio.PullUp); err == nil {
		t.Fatal("line request on /dev/null succeeded")
	}
}

func eventBytes(ts uint64, id, offset, seq uint32) []byte {
	b := make([]byte, cdevEventSize)
	binary.LittleEndian.PutUint64(b[0:], ts)
	binary.LittleEndian.PutUint32(b[8:], id)
	binary.LittleEndian.PutUint32(b[12:], offset)
	binary.LittleEndian.PutUint32(b[16:], seq)
	binary.LittleEndian.PutUint32(b[20:], seq)
	return b
}

func TestCdevEdgesKeepKernelTimestamps(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	es := newCdevEdges(r, map[uint32]int{17: 0, 27: 1})
	defer es.Close()
	// A 50 µs pulse on D1 (offset 27) then on D0, both written in one burst
	// as the kernel would queue them; seqno 3 is missing (dropped).
	var burst []byte
	burst = append(burst, eventBytes(1_000_000, cdevEventFalling, 27, 1)...)
	burst = append(burst, eventBytes(1_050_000, cdevEventRising, 27, 2)...)
	burst = append(burst, eventBytes(3_000_000, cdevEventFalling, 17, 4)...)
	if _, err := w.Write(burst); err != nil {
		t.Fatal(err)
	}
	want := []Edge{
		{Index: 1, Level: gpio.Low, Time: time.Unix(0, 1_000_000)},
		{Index: 1, Level: gpio.High, Time: time.Unix(0, 1_050_000)},
		{Index: 0, Level: gpio.Low, Time: time.Unix(0, 3_000_000)},
	}
	for i, wnt := range want {
		e, ok, err := es.WaitForEdge(time.Second)
		if err != nil || !ok || e != wnt {
			t.Fatalf("edge %d = %+v ok=%v err=%v, want %+v", i, e, ok, err, wnt)
		}
	}
	if es.Lost() != 1 {
		t.Fatalf("lost %d events, want 1", es.Lost())
	}
	if _, ok, err := es.WaitForEdge(10 * time.Millisecond); ok || err != nil {
		t.Fatalf("time-out: ok=%v err=%v", ok, err)
	}
	// An event on a line not requested is an error, not an edge.
	w.Write(eventBytes(4_000_000, cdevEventRising, 5, 5))
	if _, _, err := es.WaitForEdge(time.Second); !errors.Is(err, ErrEvent) {
		t.Fatalf("err = %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := es.WaitForEdge(10 * time.Second)
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	es.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake WaitForEdge")
	}
}

func TestParseCdevEventsRefuses(t *testing.T) {
	if _, err := parseCdevEvents(make([]byte, 47)); !errors.Is(err, ErrEvent) {
		t.Fatalf("err = %v", err)
	}
	if _, err := parseCdevEvents(eventBytes(1, 7, 0, 1)); !errors.Is(err, ErrEvent) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseCdevEvents(f *testing.F) {
	f.Add(eventBytes(1, cdevEventRising, 3, 1))
	f.Add(append(eventBytes(1, cdevEventFalling, 3, 1), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := parseCdevEvents(b)
		if err != nil {
			if !errors.Is(err, ErrEvent) {
				t.Fatalf("err %v not ErrEvent", err)
			}
			return
		}
		if len(evs)*cdevEventSize != len(b) {
			t.Fatalf("%d events from %d bytes", len(evs), len(b))
		}
		for _, e := range evs {
			if e.ID != cdevEventRising && e.ID != cdevEventFalling {
				t.Fatalf("accepted event id %d", e.ID)
			}
		}
	})
}
