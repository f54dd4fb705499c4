package scanner

import (
	"errors"
	"io"
	"net"
	"net/url"
)

// Errors of a job that did not finish, beside the feeder faults above.
var (
	// ErrStalled is a device that stopped sending: no byte for the stall
	// time mid-page, or no answer to a request within its deadline.
	ErrStalled = errors.New("scanner: stalled")
	// ErrStopped is a job the device aborted for a reason it did not name
	// or that has no error of its own: the scanner stopped, the pages
	// read so far are all there is.
	ErrStopped = errors.New("scanner: the scanner stopped")
)

// failures are the errors that end a job early. An error carrying one of
// them is never the end of a job, even when it also wraps io.EOF.
var failures = []error{ErrJam, ErrFeederEmpty, ErrCoverOpen, ErrDoubleFeed, ErrPageTooLong, ErrBusy, ErrOffline,
	ErrUnplugged, ErrUnsupported, ErrProtocol, ErrStalled, ErrStopped, ErrClosed}

// Kind returns the scanner error (one of the Err values of this package)
// err carries, or nil.
func Kind(err error) error {
	for _, f := range failures {
		if errors.Is(err, f) {
			return f
		}
	}
	return nil
}

// IsEnd reports whether err, returned by Job.Next, is the normal end of the
// job: io.EOF, and nothing that says the job failed. A transport error
// (a *url.Error, a net.Error) or a typed scanner error is never the end,
// even when it wraps io.EOF, as a connection dropped without an answer
// does. Callers that read pages until the end use it instead of
// errors.Is(err, io.EOF), so that no dropped connection passes for a
// finished job.
func IsEnd(err error) bool {
	if !errors.Is(err, io.EOF) {
		return false
	}
	if Kind(err) != nil {
		return false
	}
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	return !errors.As(err, &ue) && !errors.As(err, &ne) && !errors.As(err, &oe)
}
