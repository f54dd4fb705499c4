package ota

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Errors of delivery.
var (
	// ErrPayload is returned for a payload that differs from its verified
	// metadata: a block with a wrong hash, a wrong length, more bytes than
	// the metadata says.
	ErrPayload = errors.New("ota: payload does not match its metadata")
	// ErrFetch is returned for a network or server fault; it is retried.
	ErrFetch = errors.New("ota: fetch failed")
)

// Source reads a byte range of a payload. total is the payload's length as
// its verified metadata says; a Source must fail with ErrPayload when the
// server says the payload has a different length.
type Source interface {
	Range(ctx context.Context, path string, off, n, total int64) (io.ReadCloser, error)
}

// HTTPSource fetches payloads below a targets URL with Range requests.
type HTTPSource struct {
	Client *http.Client
	Base   string // e.g. https://central:8443/tuf/targets/
}

// Range implements Source.
func (h HTTPSource) Range(ctx context.Context, p string, off, n, total int64) (io.ReadCloser, error) {
	u, err := url.JoinPath(h.Base, p)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	cl := h.Client
	if cl == nil {
		cl = http.DefaultClient
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		var a, b, size int64
		cr := resp.Header.Get("Content-Range")
		if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &a, &b, &size); err != nil || a != off || b != off+n-1 {
			resp.Body.Close()
			return nil, fmt.Errorf("%w: Content-Range %q", ErrFetch, cr)
		}
		if size != total {
			resp.Body.Close()
			return nil, fmt.Errorf("%w: server has %d bytes, metadata says %d", ErrPayload, size, total)
		}
		return resp.Body, nil
	case http.StatusOK:
		// No range support: the whole payload; it must have the right length.
		if cl := resp.Header.Get("Content-Length"); cl != "" && cl != strconv.FormatInt(total, 10) {
			resp.Body.Close()
			return nil, fmt.Errorf("%w: server sends %s bytes, metadata says %d", ErrPayload, cl, total)
		}
		if _, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("%w: %v", ErrFetch, err)
		}
		return resp.Body, nil
	case http.StatusRequestedRangeNotSatisfiable:
		resp.Body.Close()
		return nil, fmt.Errorf("%w: range not satisfiable (%s)", ErrPayload, strings.TrimSpace(resp.Header.Get("Content-Range")))
	default:
		resp.Body.Close()
		return nil, fmt.Errorf("%w: HTTP %d", ErrFetch, resp.StatusCode)
	}
}
