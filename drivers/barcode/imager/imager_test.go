package imager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/board/sim"
	"github.com/einwurf/einwurf/drivers/barcode"
	"github.com/einwurf/einwurf/drivers/barcode/imager/ssi"
	"github.com/einwurf/einwurf/internal/testtool"
	"golang.org/x/sys/unix"
)

var (
	_ barcode.Reader  = (*Reader)(nil)
	_ barcode.Counter = (*Reader)(nil)
	_ Port            = (*fakePort)(nil)
)

// missing skips a test that needs something this machine lacks, except
// under CI=true, where everything must be there.
func missing(t testing.TB, what string) {
	t.Helper()
	testtool.SkipOrFail(t, "%s missing", what)
}

// openPTY returns the master side of a new pseudo-terminal (the engine's
// end in these tests) and the path of its slave (the kiosk's UART).
func openPTY(t testing.TB) (*os.File, string) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		missing(t, fmt.Sprintf("pseudo-terminals (/dev/ptmx: %v)", err))
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(fd)
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(fd)
		t.Fatalf("ptsname: %v", err)
	}
	m := os.NewFile(uintptr(fd), "ptmx")
	t.Cleanup(func() { m.Close() })
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

type rig struct {
	engine *os.File
	board  *sim.Board
	r      *Reader
}

// newRig opens the imager through board.Open's path: a sim board whose
// profile names the pty slave as serial port.
func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	m, slave := openPTY(t)
	b := boardWithSerial(t, slave)
	if cfg.ByteTimeout == 0 {
		cfg.ByteTimeout = 30 * time.Millisecond
	}
	r, err := Open(b, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); b.Close() })
	return &rig{engine: m, board: b, r: r}
}

// boardWithSerial is a sim board whose profile names serial as the
// imager's port.
func boardWithSerial(t *testing.T, serial string) *sim.Board {
	t.Helper()
	p, err := board.LoadProfile("sim")
	if err != nil {
		t.Fatal(err)
	}
	p.Serial = serial
	b, err := sim.New(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (g *rig) send(t *testing.T, b []byte) {
	t.Helper()
	if _, err := g.engine.Write(b); err != nil {
		t.Fatal(err)
	}
}

// expectFromHost reads exactly want from the host side, with a deadline.
func (g *rig) expectFromHost(t *testing.T, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(g.engine, got)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("host sent nothing; want % x", want)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("host sent % x, want % x", got, want)
	}
}

func (g *rig) read(t *testing.T) barcode.Scan {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := g.r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (g *rig) expectNone(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if s, err := g.r.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read = %q, %v; want nothing", s.Data, err)
	}
}

func decodeFrame(t *testing.T, status byte, typ byte, data string) []byte {
	t.Helper()
	f, err := ssi.Encode(ssi.Packet{Opcode: ssi.OpDecodeData, Source: ssi.SourceDecoder, Status: status, Data: append([]byte{typ}, data...)})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSSIDecodeAndACK(t *testing.T) {
	g := newRig(t, Config{})
	g.send(t, append([]byte{0x00, 0x02}, decodeFrame(t, 0, 0x03, "035F083761")...))
	s := g.read(t)
	if s.Data != "035F083761" || s.Symbology != barcode.SymbologyCode128 {
		t.Fatalf("scan %+v", s)
	}
	g.expectFromHost(t, ssi.ACK())
	if st := g.r.Stats(); st.Good != 1 || st.Noise != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSSIChecksumNAKThenRetransmit(t *testing.T) {
	g := newRig(t, Config{})
	bad := decodeFrame(t, 0, 0x1B, "03510//0961289")
	bad[len(bad)-1] ^= 0xFF
	g.send(t, bad)
	g.expectFromHost(t, ssi.NAK(ssi.NAKResend))
	g.send(t, decodeFrame(t, ssi.StatusRetransmit, 0x1B, "03510//0961289"))
	s := g.read(t)
	if s.Data != "03510//0961289" || s.Symbology != barcode.SymbologyDataMatrix {
		t.Fatalf("scan %+v", s)
	}
	g.expectFromHost(t, ssi.ACK())
	if st := g.r.Stats(); st.Checksum != 1 || st.Good != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSSILostACKNotDeliveredTwice(t *testing.T) {
	g := newRig(t, Config{})
	g.send(t, decodeFrame(t, 0, 0x03, "035F083761"))
	if s := g.read(t); s.Data != "035F083761" {
		t.Fatalf("scan %+v", s)
	}
	g.expectFromHost(t, ssi.ACK())
	// The engine did not get the ACK and sends the packet again.
	g.send(t, decodeFrame(t, ssi.StatusRetransmit, 0x03, "035F083761"))
	g.expectNone(t)
	g.expectFromHost(t, ssi.ACK())
}

func TestSSIMultiPacketAndOverlong(t *testing.T) {
	g := newRig(t, Config{MaxLen: 20})
	g.send(t, decodeFrame(t, ssi.StatusContinuation, 0x1C, "0351"))
	g.send(t, decodeFrame(t, 0, 0x1C, "0BG0961289"))
	if s := g.read(t); s.Data != "03510BG0961289" || s.Symbology != barcode.SymbologyQR {
		t.Fatalf("scan %+v", s)
	}
	g.expectFromHost(t, append(ssi.ACK(), ssi.ACK()...))
	// 3 x 10 bytes > MaxLen 20: acknowledged, counted, not delivered.
	for i := range 3 {
		st := byte(ssi.StatusContinuation)
		if i == 2 {
			st = 0
		}
		g.send(t, decodeFrame(t, st, 0x1C, "0123456789"))
	}
	g.expectNone(t)
	if st := g.r.Stats(); st.Overlong != 1 || st.Good != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The next message is read normally.
	g.send(t, decodeFrame(t, 0, 0x1C, "OK"))
	if s := g.read(t); s.Data != "OK" {
		t.Fatalf("scan %+v", s)
	}
}

func TestSSITruncatedAndInvalid(t *testing.T) {
	g := newRig(t, Config{})
	f := decodeFrame(t, 0, 0x03, "035F083761")
	g.send(t, f[:7])
	time.Sleep(100 * time.Millisecond) // longer than ByteTimeout
	g.send(t, decodeFrame(t, 0, 0x03, "bad\x07bell"))
	g.send(t, f)
	if s := g.read(t); s.Data != "035F083761" {
		t.Fatalf("scan %+v", s)
	}
	if st := g.r.Stats(); st.Truncated != 1 || st.Invalid != 1 || st.Good != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPlainMode(t *testing.T) {
	g := newRig(t, Config{Mode: ModePlain, Prefix: []byte{0x02}, Suffix: []byte("\r\n"), MaxLen: 16})
	g.send(t, []byte("xx\x02035F083761\r\n"))
	if s := g.read(t); s.Data != "035F083761" {
		t.Fatalf("scan %+v", s)
	}
	g.send(t, []byte("\x0212345678901234567890\r\n"))    // overlong
	g.send(t, []byte("\x02ab\x01c\r\n"))                 // control character
	g.send(t, []byte("\x0203510//0961289\r\n\x02trunc")) // good, then truncated
	if s := g.read(t); s.Data != "03510//0961289" {
		t.Fatalf("scan %+v", s)
	}
	g.expectNone(t)
	// The silence after "trunc" is seen by the reading goroutine.
	deadline := time.Now().Add(5 * time.Second)
	for g.r.Stats().Truncated == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := g.r.Stats(); st.Noise != 2 || st.Overlong != 1 || st.Invalid != 1 || st.Truncated != 1 || st.Good != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSerialSettings(t *testing.T) {
	_, slave := openPTY(t)
	for _, tc := range []struct {
		c              Config
		parenb, parodd bool
		cstopb         bool
		baud           uint32
	}{
		{Config{Baud: 115200, Parity: "E", StopBits: 2}, true, false, true, unix.B115200},
		{Config{Parity: "O"}, true, true, false, unix.B9600},
		{Config{}, false, false, false, unix.B9600},
	} {
		p, err := OpenSerial(slave, tc.c)
		if err != nil {
			t.Fatalf("%+v: %v", tc.c, err)
		}
		// The settings live in the tty, so a second descriptor sees them.
		fd, err := unix.Open(slave, unix.O_RDWR|unix.O_NOCTTY, 0)
		if err != nil {
			t.Fatal(err)
		}
		tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		unix.Close(fd)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		// A pty clears PARENB (drivers/tty/pty.c), so parity shows as
		// the input parity check the library switches with it.
		if got := tio.Iflag&unix.INPCK != 0; got != tc.parenb {
			t.Errorf("%+v: INPCK %v", tc.c, got)
		}
		if tc.parenb {
			if got := tio.Cflag&unix.PARODD != 0; got != tc.parodd {
				t.Errorf("%+v: PARODD %v", tc.c, got)
			}
		}
		if got := tio.Cflag&unix.CSTOPB != 0; got != tc.cstopb {
			t.Errorf("%+v: CSTOPB %v", tc.c, got)
		}
		if got := tio.Cflag & unix.CBAUD; got != tc.baud {
			t.Errorf("%+v: speed code %#o, want %#o", tc.c, got, tc.baud)
		}
		if tio.Cflag&unix.CSIZE != unix.CS8 {
			t.Errorf("%+v: not 8 data bits", tc.c)
		}
	}
	if _, err := OpenSerial(slave, Config{Parity: "Q"}); err == nil {
		t.Fatal("bad parity accepted")
	}
}

func TestTriggerPulse(t *testing.T) {
	g := newRig(t, Config{TriggerPulse: 80 * time.Millisecond})
	if on, _ := g.board.Asserted(board.ReaderTrigger); on {
		t.Fatal("trigger asserted at start")
	}
	done := make(chan error, 1)
	go func() { done <- g.r.Trigger(context.Background()) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if on, _ := g.board.Asserted(board.ReaderTrigger); on {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("trigger never asserted")
		}
		time.Sleep(time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if on, _ := g.board.Asserted(board.ReaderTrigger); on {
		t.Fatal("trigger not released after the pulse")
	}
	// A cancelled pulse is released too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.r.Trigger(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if on, _ := g.board.Asserted(board.ReaderTrigger); on {
		t.Fatal("trigger left asserted after cancel")
	}
}

func TestWaitGoodRead(t *testing.T) {
	g := newRig(t, Config{})
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- g.r.WaitGoodRead(ctx)
	}()
	time.Sleep(20 * time.Millisecond)
	if err := g.board.DriveAsserted(board.ReaderGoodRead, true); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestOpenNeedsSerial(t *testing.T) {
	b, err := sim.NewDefault()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(b, Config{}, nil); err == nil {
		t.Fatal("opened an imager without serial port")
	}
	p := b.Profile()
	p.Serial = "/dev/nonexistent-tty"
	b2, _ := sim.New(p)
	if _, err := Open(b2, Config{}, nil); err == nil {
		t.Fatal("opened a missing serial port")
	}
}

func TestCloseStopsRead(t *testing.T) {
	g := newRig(t, Config{})
	done := make(chan error, 1)
	go func() {
		_, err := g.r.Read(context.Background())
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	g.r.Close()
	select {
	case err := <-done:
		if !errors.Is(err, barcode.ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after Close")
	}
}

func TestConfigRefused(t *testing.T) {
	for name, c := range map[string]Config{
		"mode":    {Mode: 7},
		"suffix":  {Mode: ModePlain, Suffix: []byte{}},
		"maxlen":  {MaxLen: -1},
		"timeout": {ByteTimeout: time.Microsecond},
		"parity":  {Parity: "X"},
		"stop":    {StopBits: 3},
		"baud":    {Baud: 50},
	} {
		if _, err := c.withDefaults(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// fakePort feeds fixed bytes, then io.EOF; writes are kept.
type fakePort struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (f *fakePort) Read(b []byte) (int, error) {
	if f.in.Len() == 0 {
		return 0, io.EOF
	}
	// Small reads, so frames straddle reads.
	return f.in.Read(b[:min(len(b), 7)])
}
func (f *fakePort) Write(b []byte) (int, error)        { return f.out.Write(b) }
func (f *fakePort) Close() error                       { return nil }
func (f *fakePort) SetReadTimeout(time.Duration) error { return nil }

func fuzzReader(t *testing.T, mode Mode, in []byte) {
	port := &fakePort{in: bytes.NewReader(in)}
	r, err := New(port, nil, nil, Config{Mode: mode, Prefix: []byte{2}, Suffix: []byte{3}, MaxLen: 64}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var good uint64
	for {
		s, err := r.Read(context.Background())
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("err = %v", err)
			}
			break
		}
		good++
		if checkText([]byte(s.Data), 64) != nil {
			t.Fatalf("delivered bad code %q", s.Data)
		}
	}
	if st := r.Stats(); st.Good != good+st.Dropped {
		t.Fatalf("stats %+v, delivered %d", st, good)
	}
	// The port ended: whatever came before, the reader is not ok.
	if h, err := r.Health(context.Background()); err != nil || h.OK() || h.Reason == "" {
		t.Fatalf("health after the port ended: %+v, %v", h, err)
	}
	// Every host answer is a well-formed ACK or NAK.
	var sp ssi.Splitter
	for _, b := range port.out.Bytes() {
		if f, _ := sp.Push(b); f != nil {
			p, err := ssi.Decode(f)
			if err != nil || (p.Opcode != ssi.OpACK && p.Opcode != ssi.OpNAK) {
				t.Fatalf("host sent % x (%v)", f, err)
			}
		}
	}
}

func FuzzSSIReader(f *testing.F) {
	ok, _ := ssi.Encode(ssi.Packet{Opcode: ssi.OpDecodeData, Data: []byte("\x03035F083761")})
	cont, _ := ssi.Encode(ssi.Packet{Opcode: ssi.OpDecodeData, Status: ssi.StatusContinuation, Data: []byte("\x03AB")})
	f.Add(ok)
	f.Add(append(cont, ok...))
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6})
	f.Fuzz(func(t *testing.T, in []byte) { fuzzReader(t, ModeSSI, in) })
}

func FuzzPlainReader(f *testing.F) {
	f.Add([]byte("\x02035F083761\x03"))
	f.Add([]byte("x\x02\x02a\x03\x02"))
	f.Fuzz(func(t *testing.T, in []byte) { fuzzReader(t, ModePlain, in) })
}
