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
}

func (h hookedSource) Range(ctx context.Context, p string, off, n, total int64) (io.ReadCloser, error) {
	if err := h.hook(); err != nil {
		return nil, err
	}
	rc, err := h.Source.Range(ctx, p, off, n, total)
	if err != nil {
		return nil, err
	}
	return hookedBody{rc, h.hook}, nil
}

type hookedBody struct {
	io.ReadCloser
	hook func() error
}

func (h hookedBody) Read(p []byte) (int, error) {
	if err := h.hook(); err != nil {
		return 0, err
	}
	return h.ReadCloser.Read(p)
}
