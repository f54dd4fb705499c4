package release

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/einwurf/einwurf/wire"
)

// fetchRig is a repository folder with a target, a dotfile, a symlink to
// a secret beside the repository, and a FetchServer recording its replies.
func fetchRig(t testing.TB) (FetchServer, *[]([]byte), []byte) {
	dir := t.TempDir()
	repo := Repo{Dir: filepath.Join(dir, "tuf")}
	os.MkdirAll(filepath.Join(repo.Dir, "targets"), 0o755)
	os.MkdirAll(filepath.Join(repo.Dir, "metadata"), 0o755)
	payload := bytes.Repeat([]byte("payload "), 70000) // 560000 bytes
	os.WriteFile(filepath.Join(repo.Dir, "targets", "ab.einwurf.tar"), payload, 0o644)
	os.WriteFile(filepath.Join(repo.Dir, "metadata", "timestamp.json"), []byte(`{"signed":{}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("SECRET-KEY"), 0o600)
	os.WriteFile(filepath.Join(repo.Dir, "targets", ".hidden"), []byte("SECRET-KEY"), 0o600)
	os.Symlink(filepath.Join(dir, "secret"), filepath.Join(repo.Dir, "targets", "link"))
	var replies [][]byte
	return FetchServer{Repo: repo, Publish: func(_ context.Context, topic string, b []byte) error {
		if topic != wire.FetchReplyTopic("k-1") {
			t.Errorf("reply on %s", topic)
		}
		replies = append(replies, bytes.Clone(b))
		return nil
	}}, &replies, payload
}

func TestFetchServer(t *testing.T) {
	f, replies, payload := fetchRig(t)
	ask := func(r wire.FetchRequest) (wire.FetchReply, []byte) {
		t.Helper()
		b, _ := json.Marshal(r)
		f.Handle(context.Background(), wire.FetchRequestTopic("k-1"), b)
		h, d, err := wire.DecodeFetchReply((*replies)[len(*replies)-1])
		if err != nil {
			t.Fatal(err)
		}
		return h, d
	}
	h, d := ask(wire.FetchRequest{ID: 1, Repo: wire.FetchTargets, Path: "ab.einwurf.tar", Off: 262144, N: 262144})
	if h.ID != 1 || h.Error != "" || h.Total != int64(len(payload)) || !bytes.Equal(d, payload[262144:524288]) {
		t.Fatalf("%+v, %d bytes", h, len(d))
	}
	h, d = ask(wire.FetchRequest{ID: 2, Repo: wire.FetchTargets, Path: "ab.einwurf.tar", Off: 524288, N: 262144})
	if h.Error != "" || !bytes.Equal(d, payload[524288:]) {
		t.Fatalf("last chunk: %+v, %d bytes", h, len(d))
	}
	if h, _ := ask(wire.FetchRequest{ID: 3, Repo: wire.FetchTargets, Path: "ab.einwurf.tar", Off: int64(len(payload)), N: 10}); h.Error != wire.FetchBadRange {
		t.Fatalf("beyond the end: %+v", h)
	}
	for _, p := range []string{"link", ".hidden", "missing", "../secret"} {
		h, d := ask(wire.FetchRequest{ID: 4, Repo: wire.FetchTargets, Path: p, N: 100})
		if h.Error == "" || len(d) != 0 {
			t.Errorf("%s served: %+v %q", p, h, d)
		}
	}
	if err := f.Handle(context.Background(), wire.Root+"/k/k-1/fetch/x", nil); err == nil {
		t.Error("a request on another topic was answered")
	}
}

// FuzzFetchServer: whatever a kiosk asks, nothing outside the repository's
// two folders is served, and no dotfile or link.
func FuzzFetchServer(f *testing.F) {
	f.Add([]byte(`{"id":1,"repo":"targets","path":"link","off":0,"n":100}`))
	f.Add([]byte(`{"id":1,"repo":"metadata","path":"../targets/.hidden","off":0,"n":100}`))
	f.Add([]byte(`{"id":1,"repo":"targets","path":"ab.einwurf.tar","off":0,"n":100}`))
	srv, replies, _ := fetchRig(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		*replies = (*replies)[:0]
		srv.Handle(context.Background(), wire.FetchRequestTopic("k-1"), b)
		for _, r := range *replies {
			if bytes.Contains(r, []byte("SECRET")) {
				t.Fatalf("served a secret for %q", b)
			}
		}
	})
}
