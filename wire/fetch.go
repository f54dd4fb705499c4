package wire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
)

// Update delivery over the broker, for kiosks that reach nothing else: the
// kiosk asks the central's update server for a byte range of a file of
// its TUF repository (FetchRequest, JSON) and gets it back as a binary
// FetchReply. Nothing in it is trusted: what the kiosk writes is checked
// against the TUF metadata and the block index first, as over HTTP.

// FetchRequestTopic carries a kiosk's FetchRequest.
func FetchRequestTopic(kioskID string) string { return KioskPrefix(kioskID) + "/fetch" }

// FetchReplyTopic carries the central's binary replies (EncodeFetchReply).
func FetchReplyTopic(kioskID string) string { return CentralPrefix(kioskID) + "/fetch" }

// Repositories of a FetchRequest.
const (
	FetchMetadata = "metadata" // the TUF metadata (root, timestamp, snapshot, targets)
	FetchTargets  = "targets"  // the payloads and their block indexes
)

// FetchMaxChunk bounds the bytes one request asks for (one block of the
// update's block index); a reply with its header (at most FetchMaxHeader)
// stays far below the broker's message size limit (1 MiB).
const FetchMaxChunk = 256 << 10

// FetchMaxHeader bounds a reply's JSON header.
const FetchMaxHeader = 1024

// Errors of a FetchReply.
const (
	FetchNotFound   = "not-found"   // no such file
	FetchBadRange   = "bad-range"   // the range lies outside the file
	FetchBadRequest = "bad-request" // malformed, or a path leaving the repository
)

// FetchRequest asks for bytes [Off, Off+N) of a file of the repository.
type FetchRequest struct {
	ID   uint64 `json:"id"`
	Repo string `json:"repo"`
	Path string `json:"path"`
	Off  int64  `json:"off"`
	N    int64  `json:"n"`
}

// FetchReply is the header of a reply: which request, where its bytes
// start, the file's whole length, or an error code.
type FetchReply struct {
	ID    uint64 `json:"id"`
	Off   int64  `json:"off"`
	Total int64  `json:"total"`
	Error string `json:"error,omitempty"`
}

// ErrFetchMessage is returned for a malformed request or reply.
var ErrFetchMessage = errors.New("wire: malformed fetch message")

// ParseFetchRequest reads and checks a request: a known repository, a
// clean relative path inside it, a range of at most FetchMaxChunk bytes.
func ParseFetchRequest(b []byte) (FetchRequest, error) {
	var r FetchRequest
	if len(b) > 4096 {
		return r, fmt.Errorf("%w: %d bytes", ErrFetchMessage, len(b))
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return FetchRequest{}, fmt.Errorf("%w: %v", ErrFetchMessage, err)
	}
	switch {
	case r.Repo != FetchMetadata && r.Repo != FetchTargets:
		return r, fmt.Errorf("%w: repository %q", ErrFetchMessage, r.Repo)
	case r.Path == "" || len(r.Path) > 512 || path.Clean(r.Path) != r.Path || path.IsAbs(r.Path) ||
		r.Path == ".." || strings.HasPrefix(r.Path, "../") || strings.ContainsAny(r.Path, "\\\x00"):
		return r, fmt.Errorf("%w: path %q", ErrFetchMessage, r.Path)
	case r.Off < 0 || r.N <= 0 || r.N > FetchMaxChunk:
		return r, fmt.Errorf("%w: range %d+%d", ErrFetchMessage, r.Off, r.N)
	}
	return r, nil
}

// EncodeFetchReply makes a reply: a 2-byte big-endian header length, the
// header as JSON, the data.
func EncodeFetchReply(h FetchReply, data []byte) []byte {
	hb, _ := json.Marshal(h)
	b := make([]byte, 2, 2+len(hb)+len(data))
	binary.BigEndian.PutUint16(b, uint16(len(hb)))
	return append(append(b, hb...), data...)
}

// DecodeFetchReply splits a reply into its header and data (which aliases
// b). It checks the header's numbers, not the data.
func DecodeFetchReply(b []byte) (FetchReply, []byte, error) {
	var h FetchReply
	if len(b) < 2 {
		return h, nil, fmt.Errorf("%w: %d bytes", ErrFetchMessage, len(b))
	}
	n := int(binary.BigEndian.Uint16(b))
	if n > FetchMaxHeader || len(b) < 2+n {
		return h, nil, fmt.Errorf("%w: header of %d bytes", ErrFetchMessage, n)
	}
	if err := json.Unmarshal(b[2:2+n], &h); err != nil {
		return FetchReply{}, nil, fmt.Errorf("%w: %v", ErrFetchMessage, err)
	}
	data := b[2+n:]
	if h.Off < 0 || h.Total < 0 || len(data) > FetchMaxChunk || (h.Error == "" && h.Off+int64(len(data)) > h.Total) ||
		(h.Error != "" && len(data) > 0) {
		return FetchReply{}, nil, fmt.Errorf("%w: range %d+%d of %d", ErrFetchMessage, h.Off, len(data), h.Total)
	}
	return h, data, nil
}
