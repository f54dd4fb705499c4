package release

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// goTUFClient refreshes with go-tuf's own client against the served
// repository, trusting root.
func goTUFClient(t *testing.T, url string, root []byte) *updater.Updater {
	t.Helper()
	cfg, err := config.New(url+"/tuf/metadata/", root)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RemoteTargetsURL = url + "/tuf/targets/"
	cfg.LocalMetadataDir = t.TempDir()
	cfg.LocalTargetsDir = t.TempDir()
	u, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Refresh(); err != nil {
		t.Fatalf("go-tuf refresh: %v", err)
	}
	return u
}

func TestRepoAcceptedByGoTUF(t *testing.T) {
	dir := t.TempDir()
	r := Repo{Dir: filepath.Join(dir, "repo"), Keys: filepath.Join(dir, "keys")}
	if err := r.Init(3, 2); err != nil {
		t.Fatal(err)
	}
	if err := r.Init(3, 2); err == nil {
		t.Fatal("second Init succeeded")
	}
	root1, _ := r.RootJSON()
	payload := bytes.Repeat([]byte("einwurf"), 100000)
	pp := filepath.Join(dir, "bundle.tar")
	os.WriteFile(pp, payload, 0o644)
	if err := r.Add("bundles/einwurf-1.1.0.tar", pp, "1.1.0", "bundle"); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(r.Keys, "root-1.key")); st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", st.Mode())
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	u := goTUFClient(t, srv.URL, root1)
	ti, err := u.GetTargetInfo("bundles/einwurf-1.1.0.tar")
	if err != nil {
		t.Fatal(err)
	}
	if ti.Length != int64(len(payload)) {
		t.Fatalf("length %d", ti.Length)
	}
	_, got, err := u.DownloadTarget(ti, filepath.Join(t.TempDir(), "x"), "")
	if err != nil {
		t.Fatalf("go-tuf download: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("go-tuf downloaded other bytes")
	}
	if _, err := u.GetTargetInfo("bundles/einwurf-1.1.0.tar.blocks"); err != nil {
		t.Fatal(err)
	}
	// Root rotation: a client that trusts root 1 follows to root 2.
	if err := r.RotateRoot(3, 2); err != nil {
		t.Fatal(err)
	}
	if err := r.Refresh(); err != nil {
		t.Fatal(err)
	}
	u = goTUFClient(t, srv.URL, root1)
	if v := u.GetTrustedMetadataSet().Root.Signed.Version; v != 2 {
		t.Fatalf("go-tuf trusts root %d after rotation", v)
	}
	// Refresh keeps the timestamp fresh (and the snapshot when it nears
	// its end): a client a week later still refreshes.
	r.Now = func() time.Time { return time.Now().Add(6 * 24 * time.Hour) }
	if err := r.Refresh(); err != nil {
		t.Fatal(err)
	}
	if l, c, err := r.Target("bundles/einwurf-1.1.0.tar"); err != nil || l != int64(len(payload)) || c.Version != "1.1.0" {
		t.Fatalf("target %d %+v %v", l, c, err)
	}
}
