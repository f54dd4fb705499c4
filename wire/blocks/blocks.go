// Package blocks is the block index of an update payload, shared by the
// central that writes it (central/release) and the kiosk that reads it
// (ota): the payload cut into fixed-size blocks, each named by its SHA-256.
// The kiosk fetches the index (a TUF target of its own, so its hash is
// signed), reuses the blocks it already holds in its active slot and
// fetches only the others, checking every block before it is written.
package blocks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DefaultSize is the block size the release tool uses.
const DefaultSize = 256 << 10

// Limits of an index this package accepts.
const (
	MinSize   = 4 << 10
	MaxSize   = 16 << 20
	MaxBlocks = 1 << 16
	// MaxIndex bounds the index's encoded length.
	MaxIndex = MaxBlocks*70 + 256
)

// ErrMalformed is returned for an index that does not parse or does not
// add up.
var ErrMalformed = errors.New("blocks: malformed index")

// Index describes a payload of Length bytes in blocks of Size bytes (the
// last one shorter).
type Index struct {
	Size   int64      `json:"block_size"`
	Length int64      `json:"length"`
	Hashes [][32]byte `json:"-"`
}

type wireIndex struct {
	Size   int64    `json:"block_size"`
	Length int64    `json:"length"`
	Blocks []string `json:"blocks"`
}

// Count returns the number of blocks.
func (x Index) Count() int { return len(x.Hashes) }

// Span returns block i's offset and length.
func (x Index) Span(i int) (off, n int64) {
	off = int64(i) * x.Size
	n = x.Size
	if off+n > x.Length {
		n = x.Length - off
	}
	return off, n
}

// Build reads a payload and returns its index.
func Build(r io.Reader, size int64) (Index, error) {
	if size < MinSize || size > MaxSize {
		return Index{}, fmt.Errorf("%w: block size %d", ErrMalformed, size)
	}
	x := Index{Size: size}
	buf := make([]byte, size)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			x.Hashes = append(x.Hashes, sha256.Sum256(buf[:n]))
			x.Length += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return Index{}, err
		}
		if len(x.Hashes) > MaxBlocks {
			return Index{}, fmt.Errorf("%w: more than %d blocks", ErrMalformed, MaxBlocks)
		}
	}
	return x, nil
}

// Marshal encodes the index as JSON.
func (x Index) Marshal() []byte {
	w := wireIndex{Size: x.Size, Length: x.Length, Blocks: make([]string, len(x.Hashes))}
	for i, h := range x.Hashes {
		w.Blocks[i] = hex.EncodeToString(h[:])
	}
	b, _ := json.Marshal(w)
	return b
}

// Parse decodes and checks an index: the block count must match the
// length and block size.
func Parse(b []byte) (Index, error) {
	if len(b) > MaxIndex {
		return Index{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	var w wireIndex
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Index{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.Size < MinSize || w.Size > MaxSize || w.Length < 0 || len(w.Blocks) > MaxBlocks {
		return Index{}, fmt.Errorf("%w: block size %d, length %d", ErrMalformed, w.Size, w.Length)
	}
	if want := (w.Length + w.Size - 1) / w.Size; int64(len(w.Blocks)) != want {
		return Index{}, fmt.Errorf("%w: %d blocks for %d bytes", ErrMalformed, len(w.Blocks), w.Length)
	}
	x := Index{Size: w.Size, Length: w.Length, Hashes: make([][32]byte, len(w.Blocks))}
	for i, s := range w.Blocks {
		h, err := hex.DecodeString(s)
		if err != nil || len(h) != 32 {
			return Index{}, fmt.Errorf("%w: block %d hash", ErrMalformed, i)
		}
		copy(x.Hashes[i][:], h)
	}
	return x, nil
}
