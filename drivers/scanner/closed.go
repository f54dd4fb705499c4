package scanner

import "errors"

// ErrClosed is returned by Job.Next after the job was closed (cancelled)
// by the caller, so that a cancelled scan is never mistaken for a complete
// one (io.EOF).
var ErrClosed = errors.New("scanner: job closed")
