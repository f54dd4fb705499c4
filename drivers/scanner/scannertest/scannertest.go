// Package scannertest is a scanner.Scanner double for tests of the layers
// above (the kiosk session): pages come from memory, and every error the
// UI must explain can be injected at Scan or at any page.
package scannertest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"sync"

	"github.com/einwurf/einwurf/drivers/scanner"
)

// Scanner is a scanner double. Set the fields before use; they are not
// changed by it.
type Scanner struct {
	// Caps is returned by Capabilities.
	Caps scanner.Capabilities
	// State is returned by Status.
	State scanner.Status
	// Pages are the encoded pages one job yields, in feed order (front,
	// back, front... when the job is duplex).
	Pages [][]byte
	// Format is the pages' format (default image/jpeg).
	Format string
	// ScanErr, if set, is returned by Scan.
	ScanErr error
	// FailErr, if set, is returned by Next instead of page FailAt
	// (0-based), ending the job.
	FailErr error
	FailAt  int // index of the page that fails
	// BreakErr, if set, breaks off the body of page BreakAt (0-based)
	// halfway with this error, as a dropped connection or a stall does.
	BreakErr error
	BreakAt  int

	mu       sync.Mutex
	jobs     int
	canceled int
	last     scanner.Settings
}

var _ scanner.Scanner = (*Scanner)(nil)

// Capabilities implements scanner.Scanner.
func (s *Scanner) Capabilities(ctx context.Context) (scanner.Capabilities, error) {
	if err := ctx.Err(); err != nil {
		return scanner.Capabilities{}, err
	}
	return s.Caps, nil
}

// Status implements scanner.Scanner.
func (s *Scanner) Status(ctx context.Context) (scanner.Status, error) {
	if err := ctx.Err(); err != nil {
		return scanner.Status{}, err
	}
	return s.State, nil
}

// Scan implements scanner.Scanner.
func (s *Scanner) Scan(ctx context.Context, st scanner.Settings) (scanner.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.ScanErr != nil {
		return nil, fmt.Errorf("scannertest: %w", s.ScanErr)
	}
	s.mu.Lock()
	s.jobs++
	s.last = st
	s.mu.Unlock()
	return &job{s: s, st: st}, nil
}

// Jobs counts the jobs started.
func (s *Scanner) Jobs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs
}

// Canceled counts jobs closed before their end.
func (s *Scanner) Canceled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canceled
}

// LastSettings returns the settings of the latest job.
func (s *Scanner) LastSettings() scanner.Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

type job struct {
	s      *Scanner
	st     scanner.Settings
	next   int
	ended  bool
	closed bool
}

// Next implements scanner.Job.
func (j *job) Next(ctx context.Context) (*scanner.Page, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if j.closed {
		return nil, fmt.Errorf("scannertest: %w", scanner.ErrClosed)
	}
	if j.ended {
		return nil, io.EOF
	}
	if j.s.FailErr != nil && j.next == j.s.FailAt {
		j.ended = true
		return nil, fmt.Errorf("scannertest: %w", j.s.FailErr)
	}
	if j.next >= len(j.s.Pages) {
		j.ended = true
		return nil, io.EOF
	}
	i := j.next
	j.next++
	p := &scanner.Page{Format: j.s.Format, Sheet: i + 1, Side: scanner.Front, Resolution: j.st.Resolution, Body: io.NopCloser(bytes.NewReader(j.s.Pages[i]))}
	if p.Format == "" {
		p.Format = scanner.FormatJPEG
	}
	if j.s.BreakErr != nil && i == j.s.BreakAt {
		half := j.s.Pages[i][:len(j.s.Pages[i])/2]
		p.Body = io.NopCloser(io.MultiReader(bytes.NewReader(half), errReader{j.s.BreakErr}))
	}
	if j.st.Duplex {
		p.Sheet, p.Side = i/2+1, scanner.Side(i%2)
	}
	return p, nil
}

// Close implements scanner.Job.
func (j *job) Close() error {
	if j.closed {
		return nil
	}
	j.closed = true
	if !j.ended {
		j.s.mu.Lock()
		j.s.canceled++
		j.s.mu.Unlock()
	}
	return nil
}

// Page returns a w x h greyscale JPEG with a dark bar in the middle (a
// printed page) or, if blank, plain white.
func Page(w, h int, blank bool) []byte {
	img := image.NewGray(image.Rect(0, 0, max(1, w), max(1, h)))
	for i := range img.Pix {
		img.Pix[i] = 250
	}
	if !blank {
		for y := h * 2 / 5; y < h*3/5; y++ {
			for x := w / 10; x < w*9/10; x++ {
				img.SetGray(x, y, color.Gray{Y: 20})
			}
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 75}) // cannot fail on an in-memory image
	return b.Bytes()
}

// errReader fails every read with its error.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
