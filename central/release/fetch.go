package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/einwurf/einwurf/wire"
)

// FetchFilter is the subscription for every kiosk's chunk requests.
const FetchFilter = wire.Root + "/k/+/fetch"

// ErrFetchRequest is returned for a request that is not on a kiosk's
// fetch topic or does not parse (it is answered bad-request when it names
// a kiosk).
var ErrFetchRequest = errors.New("release: bad fetch request")

// FetchServer answers the kiosks' chunk requests on the broker
// (wire.FetchRequest) from the repository's metadata and targets folders:
// update delivery where a kiosk reaches only the broker. It serves files
// only, nothing outside the two folders, at most wire.FetchMaxChunk bytes
// per request; it keeps nothing per kiosk.
type FetchServer struct {
	Repo Repo
	// Publish sends a reply (QoS 0: a lost reply is asked for again).
	Publish func(ctx context.Context, topic string, payload []byte) error
}

// Handle answers one message of FetchFilter.
func (f FetchServer) Handle(ctx context.Context, topic string, payload []byte) error {
	kiosk, ok := strings.CutPrefix(topic, wire.Root+"/k/")
	if ok {
		kiosk, ok = strings.CutSuffix(kiosk, "/fetch")
	}
	if !ok || !wire.ValidID(kiosk) || wire.FetchRequestTopic(kiosk) != topic {
		return fmt.Errorf("%w: topic %q", ErrFetchRequest, topic)
	}
	req, err := wire.ParseFetchRequest(payload)
	if err != nil {
		f.Publish(ctx, wire.FetchReplyTopic(kiosk), wire.EncodeFetchReply(wire.FetchReply{ID: req.ID, Error: wire.FetchBadRequest}, nil))
		return fmt.Errorf("%w: %v", ErrFetchRequest, err)
	}
	h, data := f.read(req)
	return f.Publish(ctx, wire.FetchReplyTopic(kiosk), wire.EncodeFetchReply(h, data))
}

func (f FetchServer) read(req wire.FetchRequest) (wire.FetchReply, []byte) {
	h := wire.FetchReply{ID: req.ID, Off: req.Off}
	name := filepath.Join(f.Repo.Dir, req.Repo, filepath.FromSlash(req.Path))
	fi, err := os.Lstat(name)
	if err != nil || !fi.Mode().IsRegular() || strings.Contains("/"+req.Path, "/.") {
		h.Error = wire.FetchNotFound
		return h, nil
	}
	file, err := os.Open(name)
	if err != nil {
		h.Error = wire.FetchNotFound
		return h, nil
	}
	defer file.Close()
	if fi, err = file.Stat(); err != nil || !fi.Mode().IsRegular() {
		h.Error = wire.FetchNotFound
		return h, nil
	}
	h.Total = fi.Size() // of the file opened (metadata is replaced by renames)
	if req.Off > h.Total || (req.Off == h.Total && h.Total > 0) {
		h.Error = wire.FetchBadRange
		return h, nil
	}
	data := make([]byte, min(req.N, h.Total-req.Off))
	n, err := file.ReadAt(data, req.Off)
	if err != nil && err != io.EOF {
		h.Error = wire.FetchNotFound
		return h, nil
	}
	return h, data[:n]
}
