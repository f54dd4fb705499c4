package ota

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/wire/blocks"
)

// syncEvery is how many fetched bytes are written to the slot between two
// syncs of it.
const syncEvery = 4 << 20

// DownloadStats counts where a download's bytes came from.
type DownloadStats struct {
	Fetched int64 // over the network
	Reused  int64 // copied from the active slot
	Kept    int64 // already in the slot (resumed)
}

// download fills image with the payload described by idx: blocks already
// in image are kept, blocks the active image holds (by hash) are copied,
// the rest are fetched from src in runs. Every block is checked against its
// hash before it is written. It returns the payload's SHA-256.
func download(ctx context.Context, fsys durable.FS, image, active string, activeIdx *blocks.Index,
	idx blocks.Index, src Source, path string, progress func(done int64), st *DownloadStats) ([32]byte, error) {
	var sum [32]byte
	f, err := fsys.OpenFile(image, os.O_CREATE)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	var act durable.File
	have := map[[32]byte]int{} // hash → block index in the active image
	if activeIdx != nil && active != "" && activeIdx.Size == idx.Size {
		if a, err := fsys.OpenFile(active, os.O_RDONLY); err == nil {
			act = a
			defer a.Close()
			for i := len(activeIdx.Hashes) - 1; i >= 0; i-- {
				have[activeIdx.Hashes[i]] = i
			}
		}
	}
	full := newPipeHash(idx.Size)
	defer full.stop()
	buf := make([]byte, idx.Size)   // fetched blocks
	local := make([]byte, idx.Size) // blocks already here or in the active slot
	var done, unsynced int64
	var syncErr error
	run := -1 // first block of a pending run to fetch
	flush := func(end int) error {
		if run < 0 {
			return nil
		}
		start := run
		run = -1
		err := fetchRun(ctx, f, src, path, idx, start, end, buf, full, st, func(n int64) {
			done += n
			// The slot is the download's progress: fetched blocks are synced
			// every syncEvery bytes, so a power cut (which drops what is
			// still in the page cache) costs at most that much again.
			if unsynced += n; unsynced >= syncEvery && syncErr == nil {
				syncErr, unsynced = f.Sync(), 0
			}
			if progress != nil {
				progress(done)
			}
		})
		if err == nil {
			err = syncErr
		}
		return err
	}
	for i := 0; i < idx.Count(); i++ {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		off, n := idx.Span(i)
		b := local[:n]
		// Already in the slot (a resumed download)?
		if m, err := f.ReadAt(b, off); int64(m) == n && (err == nil || err == io.EOF) && sha256.Sum256(b) == idx.Hashes[i] {
			if err := flush(i); err != nil {
				return sum, err
			}
			full.Write(b)
			st.Kept += n
			done += n
			continue
		}
		// In the active slot?
		if j, ok := have[idx.Hashes[i]]; ok && act != nil {
			aoff, an := activeIdx.Span(j)
			if an == n {
				if m, err := act.ReadAt(b, aoff); int64(m) == n && (err == nil || err == io.EOF) && sha256.Sum256(b) == idx.Hashes[i] {
					if err := flush(i); err != nil {
						return sum, err
					}
					if _, err := f.WriteAt(b, off); err != nil {
						return sum, err
					}
					full.Write(b)
					st.Reused += n
					done += n
					continue
				}
			}
		}
		if run < 0 {
			run = i
		}
	}
	if err := flush(idx.Count()); err != nil {
		return sum, err
	}
	if err := f.Sync(); err != nil {
		return sum, err
	}
	return full.sum(), nil
}

// pipeHash computes the whole payload's SHA-256 on another goroutine, so
// it runs beside the block hashes and the writes (two cores on a kiosk).
type pipeHash struct {
	in   chan []byte
	free chan []byte
	out  chan [32]byte
	once bool
}

func newPipeHash(size int64) *pipeHash {
	p := &pipeHash{in: make(chan []byte, 4), free: make(chan []byte, 4), out: make(chan [32]byte, 1)}
	for i := 0; i < cap(p.free); i++ {
		p.free <- make([]byte, size)
	}
	go func() {
		h := sha256.New()
		for b := range p.in {
			h.Write(b)
			p.free <- b[:cap(b)]
		}
		var s [32]byte
		copy(s[:], h.Sum(nil))
		p.out <- s
	}()
	return p
}

// Write queues a copy of b.
func (p *pipeHash) Write(b []byte) (int, error) {
	buf := <-p.free
	n := copy(buf, b)
	p.in <- buf[:n]
	return len(b), nil
}

func (p *pipeHash) sum() [32]byte {
	p.once = true
	close(p.in)
	return <-p.out
}

func (p *pipeHash) stop() {
	if !p.once {
		p.once = true
		close(p.in)
		<-p.out
	}
}

// fetchRun fetches blocks [start, end) in one range request, checking and
// writing block by block; on a network fault it resumes the run from the
// first block not yet written, a bounded number of times.
func fetchRun(ctx context.Context, f durable.File, src Source, path string, idx blocks.Index, start, end int,
	buf []byte, full io.Writer, st *DownloadStats, progress func(int64)) error {
	const retries = 5
	var lastErr error
	for attempt := 0; attempt <= retries && start < end; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		off, _ := idx.Span(start)
		lastOff, lastN := idx.Span(end - 1)
		body, err := src.Range(ctx, path, off, lastOff+lastN-off, idx.Length)
		if err != nil {
			if errors.Is(err, ErrPayload) {
				return err
			}
			lastErr = err
			continue
		}
		for start < end {
			boff, n := idx.Span(start)
			b := buf[:n]
			if _, err := io.ReadFull(body, b); err != nil {
				lastErr = fmt.Errorf("%w: %v", ErrFetch, err)
				break
			}
			st.Fetched += n
			if sha256.Sum256(b) != idx.Hashes[start] {
				body.Close()
				return fmt.Errorf("%w: block %d hash", ErrPayload, start)
			}
			if _, err := f.WriteAt(b, boff); err != nil {
				body.Close()
				return err
			}
			full.Write(b)
			progress(n)
			start++
		}
		if start == end {
			// The range must end here: a longer body is a longer payload.
			var one [1]byte
			m, _ := body.Read(one[:])
			body.Close()
			if m > 0 {
				return fmt.Errorf("%w: more bytes than the metadata says", ErrPayload)
			}
			return nil
		}
		body.Close()
	}
	return lastErr
}

// hashFile returns the SHA-256 of the first n bytes of a file.
func hashFile(fsys durable.FS, name string, n int64) ([32]byte, error) {
	var sum [32]byte
	f, err := fsys.OpenFile(name, os.O_RDONLY)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, n)); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
