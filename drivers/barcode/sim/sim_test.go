package sim

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/barcode"
)

var _ barcode.Reader = (*Reader)(nil)
var _ barcode.Counter = (*Reader)(nil)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestInjectRead(t *testing.T) {
	r := New()
	defer r.Close()
	if err := r.Inject("035F083761"); err != nil {
		t.Fatal(err)
	}
	if err := r.Inject("03510//0961289"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"035F083761", "03510//0961289"} {
		s, err := r.Read(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if s.Data != want {
			t.Fatalf("read %q, want %q", s.Data, want)
		}
	}
	if st := r.Stats(); st.Good != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestInjectFullAndBad(t *testing.T) {
	r := New()
	defer r.Close()
	for i := range QueueSize {
		if err := r.Inject("A" + strings.Repeat("1", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Inject("X"); !errors.Is(err, ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
	for _, bad := range []string{"", "a\nb", "\x00", strings.Repeat("9", MaxLen+1), "\xff\xfe"} {
		if err := r.Inject(bad); !errors.Is(err, ErrBadCode) || !errors.Is(err, barcode.ErrFrame) {
			t.Fatalf("Inject(%q) err = %v, want ErrBadCode", bad, err)
		}
	}
	st := r.Stats()
	if st.Good != QueueSize || st.Dropped != 1 || st.Invalid != 4 || st.Overlong != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The queue still holds exactly the good codes, in order.
	for i := range QueueSize {
		s, err := r.Read(ctxT(t))
		if err != nil || s.Data != "A"+strings.Repeat("1", i) {
			t.Fatalf("read %d: %q, %v", i, s.Data, err)
		}
	}
}

func TestReadContextAndClose(t *testing.T) {
	r := New()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if err := r.Inject("LAST"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	r.Close()
	go func() {
		s, err := r.Read(ctxT(t))
		if err == nil && s.Data != "LAST" {
			err = errors.New("wrong code " + s.Data)
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatalf("queued code lost at close: %v", err)
	}
	if _, err := r.Read(ctxT(t)); !errors.Is(err, barcode.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	if err := r.Inject("X"); !errors.Is(err, barcode.ErrClosed) {
		t.Fatalf("Inject after close err = %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseWakesReader(t *testing.T) {
	r := New()
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(ctxT(t))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	r.Close()
	select {
	case err := <-done:
		if !errors.Is(err, barcode.ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read not woken by Close")
	}
}

func TestFeed(t *testing.T) {
	r := New()
	defer r.Close()
	long := strings.Repeat("7", 5000)
	in := "035F083761\r\n\n" + long + "\nbad\x01code\n03510BG0961289"
	for range QueueSize + 3 {
		in += "\nQ"
	}
	got := make(chan string, 64)
	go func() {
		for {
			s, err := r.Read(context.Background())
			if err != nil {
				close(got)
				return
			}
			got <- s.Data
		}
	}()
	if err := r.Feed(ctxT(t), strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	want := []string{"035F083761", "03510BG0961289"}
	for range QueueSize + 3 {
		want = append(want, "Q")
	}
	for i, w := range want {
		select {
		case g := <-got:
			if g != w {
				t.Fatalf("code %d = %q, want %q", i, g, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("code %d missing", i)
		}
	}
	st := r.Stats()
	if st.Overlong != 1 || st.Invalid != 1 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFeedFullQueueHonoursContext(t *testing.T) {
	r := New()
	defer r.Close()
	in := strings.Repeat("C\n", QueueSize+1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := r.Feed(ctx, strings.NewReader(in)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestFeedReadError(t *testing.T) {
	r := New()
	defer r.Close()
	if err := r.Feed(ctxT(t), errReader{}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzFeed(f *testing.F) {
	f.Add([]byte("035F083761\n03510//0961289\r\n"))
	f.Add([]byte("\n\n\x00\xff"))
	f.Add([]byte(strings.Repeat("x", 600) + "\nok"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := New()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		readerDone := make(chan struct{})
		defer func() { r.Close(); <-readerDone }()
		go func() {
			defer close(readerDone)
			for {
				s, err := r.Read(ctx)
				if err != nil {
					return
				}
				if check(s.Data) != nil {
					t.Errorf("delivered bad code %q", s.Data)
				}
			}
		}()
		if err := r.Feed(ctx, strings.NewReader(string(in))); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Feed: %v", err)
		}
	})
}

var _ barcode.Checker = (*Reader)(nil)

// TestHealth: the simulated reader reports what the simulation sets; a
// dead one reads nothing (Inject refuses, Feed skips), ok again reads;
// a closed one is offline; an unknown state is refused.
func TestHealth(t *testing.T) {
	r := New()
	defer r.Close()
	ctx := ctxT(t)
	if h, err := r.Health(ctx); err != nil || h != (barcode.Health{State: barcode.StateOK, Reason: barcode.ReasonSimulated, Asked: true}) {
		t.Fatalf("health %+v, %v", h, err)
	}
	for _, st := range []barcode.State{barcode.StateAbsent, barcode.StateOffline, barcode.StateFault} {
		if err := r.SetHealth(st, ""); err != nil {
			t.Fatal(err)
		}
		if h, _ := r.Health(ctx); h != (barcode.Health{State: st, Reason: barcode.ReasonSimulated, Asked: true}) {
			t.Fatalf("%s: health %+v", st, h)
		}
		if err := r.Inject("035F083761"); !errors.Is(err, ErrNotReading) {
			t.Fatalf("%s: Inject: %v", st, err)
		}
	}
	if err := r.Feed(ctx, strings.NewReader("035F083761\n")); err != nil {
		t.Fatalf("Feed while dead: %v", err)
	}
	if err := r.SetHealth(barcode.StateOffline, barcode.ReasonNoAnswer); err != nil {
		t.Fatal(err)
	}
	if h, _ := r.Health(ctx); h.Reason != barcode.ReasonNoAnswer {
		t.Fatalf("reason %+v", h)
	}
	if err := r.SetHealth("broken", ""); !errors.Is(err, ErrState) {
		t.Fatalf("SetHealth(broken): %v", err)
	}
	if err := r.SetHealth(barcode.StateOK, ""); err != nil {
		t.Fatal(err)
	}
	if err := r.Inject("035F083761"); err != nil {
		t.Fatal(err)
	}
	if s, err := r.Read(ctx); err != nil || s.Data != "035F083761" {
		t.Fatalf("read %+v, %v", s, err)
	}
	if st := r.Stats(); st.Good != 1 || st.Dropped != 4 {
		t.Fatalf("stats %+v", st)
	}
	r.Close()
	if h, _ := r.Health(ctx); h != (barcode.Health{State: barcode.StateOffline, Reason: barcode.ReasonClosed}) {
		t.Fatalf("closed: health %+v", h)
	}
}
