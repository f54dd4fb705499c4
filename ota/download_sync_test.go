package ota

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/einwurf/einwurf/ota/durable/crashfs"
	"github.com/einwurf/einwurf/wire/blocks"
)

// cutSource serves a payload with Range until budget bytes are served, then
// fails as a network (or power) cut would mid-body (errCut).
type cutSource struct {
	payload []byte
	budget  int64 // < 0: no limit
	served  int64
}

var errCut = errors.New("cut")

func (c *cutSource) Range(_ context.Context, _ string, off, n, _ int64) (io.ReadCloser, error) {
	return io.NopCloser(&cutReader{c: c, r: bytes.NewReader(c.payload[off : off+n])}), nil
}

type cutReader struct {
	c *cutSource
	r *bytes.Reader
}

func (r *cutReader) Read(p []byte) (int, error) {
	if r.c.budget >= 0 {
		left := r.c.budget - r.c.served
		if left <= 0 {
			return 0, errCut
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := r.r.Read(p)
	r.c.served += int64(n)
	return n, err
}

// TestPowerCutKeepsSyncedBlocks: a power cut during a download (which drops
// every write to the slot not yet synced) costs at most syncEvery bytes of
// what was fetched: the resumed download keeps the synced blocks. (Synced
// only at the end, a cut lost the whole download so far; the virtual
// board's TestPowerCuts found that.)
func TestPowerCutKeepsSyncedBlocks(t *testing.T) {
	const size = 16 << 20
	payload := make([]byte, size)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	idx, err := blocks.Build(bytes.NewReader(payload), 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	fs := crashfs.New()
	// The slot exists before the update, as a partition does.
	f, err := fs.OpenFile("/slot-b", os.O_CREATE)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := fs.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	src := &cutSource{payload: payload, budget: 10 << 20}
	if _, err := download(context.Background(), fs, "/slot-b", "", nil, idx, src, "t", nil, &DownloadStats{}); err == nil {
		t.Fatal("first run: no error, want the cut")
	}
	fs.PowerCut()
	src2 := &cutSource{payload: payload, budget: -1}
	var st DownloadStats
	sum, err := download(context.Background(), fs, "/slot-b", "", nil, idx, src2, "t", nil, &st)
	if err != nil {
		t.Fatal(err)
	}
	if sum != sha256.Sum256(payload) {
		t.Fatal("resumed payload differs")
	}
	if max := int64(size-10<<20) + 4<<20 + idx.Size; src2.served > max {
		t.Fatalf("resumed download fetched %d bytes again, at most %d (kept %d)", src2.served, max, st.Kept)
	}
	t.Logf("cut after 10 MiB of 16: %d bytes fetched again, %d kept", src2.served, st.Kept)
}
