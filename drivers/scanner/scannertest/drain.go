package scannertest

import (
	"context"
	"io"

	"github.com/einwurf/einwurf/drivers/scanner"
)

// Drain reads every page of j to the end through buf, as the kiosk does,
// calls after (if not nil) once per page, closes j and returns the pages and
// bytes read. Only the job's normal end (scanner.IsEnd) returns nil: a
// transport error that wraps io.EOF is an error. Benchmarks of the drivers
// share it.
func Drain(ctx context.Context, j scanner.Job, buf []byte, after func()) (pages, bytes int64, err error) {
	defer j.Close()
	for {
		p, err := j.Next(ctx)
		if scanner.IsEnd(err) {
			return pages, bytes, nil
		}
		if err != nil {
			return pages, bytes, err
		}
		n, err := io.CopyBuffer(io.Discard, p.Body, buf)
		p.Body.Close()
		if err != nil {
			return pages, bytes, err
		}
		bytes += n
		pages++
		if after != nil {
			after()
		}
	}
}
