package ota

import (
	"context"
	"crypto/sha256"
	"io"
)

func ioReadFull(r io.Reader, b []byte) (int, error) { return io.ReadFull(r, b) }

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// hookedSource calls hook before every range request and block read, so a
// test can stop the machine in the middle of a download.
type hookedSource struct {
	Source
	hook func() error
	size int64 // block size
}

func (h hookedSource) Range(ctx context.Context, p string, off, n, total int64) (io.ReadCloser, error) {
	if err := h.hook(); err != nil {
		return nil, err
	}
	rc, err := h.Source.Range(ctx, p, off, n, total)
	if err != nil {
		return nil, err
	}
	return &hookedBody{ReadCloser: rc, hook: h.hook, size: h.size}, nil
}

// hookedBody calls hook at the start of every block it delivers.
type hookedBody struct {
	io.ReadCloser
	hook    func() error
	size, n int64
}

func (h *hookedBody) Read(p []byte) (int, error) {
	if h.size > 0 && h.n%h.size == 0 {
		if err := h.hook(); err != nil {
			return 0, err
		}
	}
	if h.size > 0 && int64(len(p)) > h.size-h.n%h.size {
		p = p[:h.size-h.n%h.size] // stop at the block's end
	}
	n, err := h.ReadCloser.Read(p)
	h.n += int64(n)
	return n, err
}
