package wiegand

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/board/sim"
	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/barcode/wiegand/wiegandtest"
	"periph.io/x/conn/v3/gpio"
)

var (
	_ barcode.Reader  = (*Reader)(nil)
	_ barcode.Counter = (*Reader)(nil)
)

// loadRecording reads a recorded edge sequence: "<µs> <D0|D1> <0|1>" per
// line, '#' comments.
func loadRecording(t *testing.T, name string) []sim.Event {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []sim.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 3 {
			t.Fatalf("%s: bad line %q", name, line)
		}
		us, err := strconv.Atoi(fs[0])
		if err != nil {
			t.Fatal(err)
		}
		sig := map[string]board.Signal{"D0": board.WiegandD0, "D1": board.WiegandD1}[fs[1]]
		if sig == "" {
			t.Fatalf("%s: bad line name %q", name, fs[1])
		}
		evs = append(evs, sim.Event{Signal: sig, Level: fs[2] == "1", At: time.Duration(us) * time.Microsecond})
	}
	return evs
}

// synth builds the edges of a frame from a bit string: pulse width,
// interval between pulse starts.
func synth(bits string, t0, width, interval time.Duration) []sim.Event {
	return wiegandtest.Pulses(bits, t0, width, interval)
}

func setup(t *testing.T, cfg Config) (*sim.Board, *Reader) {
	t.Helper()
	b, err := sim.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(b, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); b.Close() })
	return b, r
}

func read(t *testing.T, r *Reader) (barcode.Scan, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return r.Read(ctx)
}

func expectNone(t *testing.T, r *Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if s, err := r.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read = %q, %v; want nothing delivered", s.Data, err)
	}
}

func TestRecorded26(t *testing.T) {
	b, r := setup(t, Config{})
	if err := b.Play(time.Now(), loadRecording(t, "h10301_123_45678.txt")); err != nil {
		t.Fatal(err)
	}
	s, err := read(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if s.Data != "08106606" || s.Symbology != barcode.SymbologyWiegand {
		t.Fatalf("scan %+v, want 08106606", s)
	}
	if st := r.Stats(); st != (barcode.Stats{Good: 1}) {
		t.Fatalf("stats %+v", st)
	}
}

func TestRecorded34(t *testing.T) {
	b, r := setup(t, Config{})
	if err := b.Play(time.Now(), loadRecording(t, "34bit_3000000123.txt")); err != nil {
		t.Fatal(err)
	}
	s, err := read(t, r)
	if err != nil || s.Data != "3000000123" {
		t.Fatalf("scan %+v, %v", s, err)
	}
}

func TestNoiseSpikeDropped(t *testing.T) {
	b, r := setup(t, Config{})
	if err := b.Play(time.Now(), loadRecording(t, "h10301_noise.txt")); err != nil {
		t.Fatal(err)
	}
	s, err := read(t, r)
	if err != nil || s.Data != "08106606" {
		t.Fatalf("scan %+v, %v", s, err)
	}
	if st := r.Stats(); st.Noise != 1 || st.Good != 1 {
		t.Fatalf("stats %+v, want one noise pulse", st)
	}
}

func TestParityErrorNeverDelivered(t *testing.T) {
	b, r := setup(t, Config{})
	if err := b.Play(time.Now(), loadRecording(t, "parity_then_good.txt")); err != nil {
		t.Fatal(err)
	}
	s, err := read(t, r)
	if err != nil || s.Data != "08106606" {
		t.Fatalf("first delivered scan %+v, %v; want the good frame", s, err)
	}
	if st := r.Stats(); st.Checksum != 1 || st.Good != 1 {
		t.Fatalf("stats %+v", st)
	}
	expectNone(t, r)
}

func TestBadFramesCounted(t *testing.T) {
	good := "10111101110110010011011101"
	for name, tc := range map[string]struct {
		bits string
		want func(barcode.Stats) bool
	}{
		"truncated25": {good[:25], func(s barcode.Stats) bool { return s.Truncated == 1 }},
		"between30":   {good + "0000", func(s barcode.Stats) bool { return s.Truncated == 1 }},
		"overlong40":  {good + "01010101010101", func(s barcode.Stats) bool { return s.Overlong == 1 }},
		"trailparity": {good[:25] + "0", func(s barcode.Stats) bool { return s.Checksum == 1 }},
	} {
		t.Run(name, func(t *testing.T) {
			b, r := setup(t, Config{})
			if err := b.Play(time.Now(), synth(tc.bits, 0, 50*time.Microsecond, 2*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			expectNone(t, r)
			if st := r.Stats(); !tc.want(st) || st.Good != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestTimingWindows(t *testing.T) {
	good := "10111101110110010011011101"
	for name, tc := range map[string]struct {
		width, interval time.Duration
		noise           uint64
	}{
		// Pulses too short or too long are noise: all 26 dropped.
		"short": {2 * time.Microsecond, 2 * time.Millisecond, 26},
		"long":  {800 * time.Microsecond, 2 * time.Millisecond, 26},
		// Pulses closer than MinGap: every second one is noise.
		"crowded": {50 * time.Microsecond, 120 * time.Microsecond, 13},
	} {
		t.Run(name, func(t *testing.T) {
			b, r := setup(t, Config{})
			if err := b.Play(time.Now(), synth(good, 0, tc.width, tc.interval)); err != nil {
				t.Fatal(err)
			}
			expectNone(t, r)
			if st := r.Stats(); st.Noise != tc.noise || st.Good != 0 {
				t.Fatalf("stats %+v, want %d noise", st, tc.noise)
			}
		})
	}
}

func TestBothLinesLowIsNoise(t *testing.T) {
	d, err := NewDecoder(Config{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(0, 0)
	us := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Microsecond) }
	d.Push(board.Edge{Index: 0, Level: gpio.Low, Time: us(0)})
	d.Push(board.Edge{Index: 1, Level: gpio.Low, Time: us(10)})
	d.Push(board.Edge{Index: 0, Level: gpio.High, Time: us(50)})
	d.Push(board.Edge{Index: 1, Level: gpio.High, Time: us(60)})
	if st := d.Stats(); st.Noise != 1 {
		t.Fatalf("stats %+v", st)
	}
	// A rising edge without a falling one, and an unknown line.
	d.Push(board.Edge{Index: 1, Level: gpio.High, Time: us(3000)})
	d.Push(board.Edge{Index: 5, Level: gpio.Low, Time: us(3100)})
	if st := d.Stats(); st.Noise != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTwoFramesSplitByGap(t *testing.T) {
	b, r := setup(t, Config{})
	rec := loadRecording(t, "h10301_123_45678.txt")
	var second []sim.Event
	for _, e := range loadRecording(t, "34bit_3000000123.txt") {
		e.At += 200 * time.Millisecond
		second = append(second, e)
	}
	if err := b.Play(time.Now(), append(rec, second...)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"08106606", "3000000123"} {
		s, err := read(t, r)
		if err != nil || s.Data != want {
			t.Fatalf("scan %+v, %v; want %s", s, err, want)
		}
	}
}

func TestLongFormat(t *testing.T) {
	long := Format{Name: "40-bit raw", Bits: 40, Digits: 13}
	b, r := setup(t, Config{Formats: []Format{Format26, long}})
	bits := strconv.FormatUint(987654321012, 2)
	bits = strings.Repeat("0", 40-len(bits)) + bits
	if err := b.Play(time.Now(), synth(bits, 0, 50*time.Microsecond, time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	s, err := read(t, r)
	if err != nil || s.Data != "0987654321012" {
		t.Fatalf("scan %+v, %v", s, err)
	}

	// The same frame where the format allows fewer digits is no valid
	// number.
	short := Format{Name: "40-bit 10 digits", Bits: 40, Digits: 10}
	d, err := NewDecoder(Config{Formats: []Format{short}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(0, 0)
	for _, e := range synth(bits, 0, 50*time.Microsecond, time.Millisecond) {
		idx := 0
		if e.Signal == board.WiegandD1 {
			idx = 1
		}
		if _, done := d.Push(board.Edge{Index: idx, Level: e.Level, Time: start.Add(e.At)}); done {
			t.Fatal("frame ended early")
		}
	}
	res, done := d.Flush()
	if !done || !errors.Is(res.Err, ErrNumber) || !errors.Is(res.Err, barcode.ErrInvalid) || res.Scan.Data != "" {
		t.Fatalf("result %+v", res)
	}
	if d.Stats().Invalid != 1 {
		t.Fatalf("stats %+v", d.Stats())
	}
}

func TestLongFormatWithOddParity37(t *testing.T) {
	// H10304: 37 bits, even parity over bits 1-19, odd over 19-37 (the
	// middle data bit counts in both halves).
	f := Format{Name: "H10304", Bits: 37, Parity: true}
	d, err := NewDecoder(Config{Formats: []Format{f}})
	if err != nil {
		t.Fatal(err)
	}
	data := "10000000000000000100000000000000001" // 35 bits
	first, second := data[:18], data[17:]
	p0 := strings.Count(first, "1") % 2
	p1 := 1 - strings.Count(second, "1")%2
	frame := strconv.Itoa(p0) + data + strconv.Itoa(p1)
	start := time.Unix(0, 0)
	for _, e := range synth(frame, 0, 50*time.Microsecond, time.Millisecond) {
		idx := map[board.Signal]int{board.WiegandD0: 0, board.WiegandD1: 1}[e.Signal]
		d.Push(board.Edge{Index: idx, Level: e.Level, Time: start.Add(e.At)})
	}
	res, done := d.Flush()
	want, _ := strconv.ParseUint(data, 2, 64)
	if !done || res.Err != nil || res.Scan.Data != strconv.FormatUint(want, 10) {
		t.Fatalf("result %+v", res)
	}
}

func TestConfigRefused(t *testing.T) {
	for name, cfg := range map[string]Config{
		"dup":     {Formats: []Format{Format26, {Name: "x", Bits: 26}}},
		"toolong": {Formats: []Format{{Name: "x", Bits: 70}}},
		"digits":  {Formats: []Format{{Name: "x", Bits: 10, Digits: 30}}},
		"timing":  {Timing: Timing{MinPulse: time.Millisecond, MaxPulse: time.Microsecond, FrameGap: time.Second}},
	} {
		if _, err := NewDecoder(cfg); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestCloseStopsRead(t *testing.T) {
	_, r := setup(t, Config{})
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(context.Background())
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	r.Close()
	select {
	case err := <-done:
		if !errors.Is(err, barcode.ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after Close")
	}
}

// FuzzDecoder feeds arbitrary edge sequences: each 3 bytes are line,
// level and a time step. Whatever comes out is either a well-formed number
// of a configured format or an error; the counts add up.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 1, 50, 1, 0, 200, 1, 1, 50})
	f.Add([]byte{2, 0, 0, 1, 1, 1})
	var seed []byte
	for _, c := range "10111101110110010011011101" {
		l := byte(c - '0')
		seed = append(seed, l, 0, 40, l, 1, 1)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, in []byte) {
		long := Format{Name: "long", Bits: 40, Digits: 12}
		d, err := NewDecoder(Config{Formats: []Format{Format26, Format34, long}})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Unix(0, 0)
		var results []Result
		for i := 0; i+2 < len(in); i += 3 {
			// Time steps in units of 50 µs, so every window is reachable.
			now = now.Add(time.Duration(in[i+2]) * 50 * time.Microsecond)
			if res, done := d.Push(board.Edge{Index: int(in[i] % 3), Level: in[i+1]&1 == 1, Time: now}); done {
				results = append(results, res)
			}
		}
		if res, done := d.Flush(); done {
			results = append(results, res)
		}
		var good uint64
		for _, r := range results {
			if r.Err != nil {
				if r.Scan.Data != "" {
					t.Fatalf("error result carries data: %+v", r)
				}
				if !errors.Is(r.Err, barcode.ErrFrame) && !errors.Is(r.Err, barcode.ErrInvalid) {
					t.Fatalf("error %v is neither ErrFrame nor ErrInvalid", r.Err)
				}
				continue
			}
			good++
			if n := len(r.Scan.Data); n != 8 && n != 10 && n != 12 {
				t.Fatalf("good scan %q has an unexpected width", r.Scan.Data)
			}
			if _, err := strconv.ParseUint(r.Scan.Data, 10, 64); err != nil {
				t.Fatalf("good scan %q is no number", r.Scan.Data)
			}
		}
		st := d.Stats()
		if st.Good != good || st.Good+st.Truncated+st.Overlong+st.Checksum+st.Invalid != uint64(len(results)) {
			t.Fatalf("stats %+v do not add up to %d results", st, len(results))
		}
	})
}
