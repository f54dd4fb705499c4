package crashfs

import (
	"os"
	"testing"

	"github.com/einwurf/einwurf/ota/durable"
)

func TestPowerCutDropsUnsynced(t *testing.T) {
	c := New()
	c.MkdirAll("/d")
	if err := durable.WriteFile(c, "/d/kept", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	f, _ := c.OpenFile("/d/kept", os.O_RDWR)
	f.WriteAt([]byte("lost"), 0) // not synced
	g, _ := c.OpenFile("/d/new", os.O_CREATE)
	g.WriteAt([]byte("x"), 0)
	g.Sync() // content synced, name not
	c.PowerCut()
	if b, err := c.ReadFile("/d/kept"); err != nil || string(b) != "kept" {
		t.Fatalf("kept: %q %v", b, err)
	}
	if _, err := c.ReadFile("/d/new"); !durable.IsNotExist(err) {
		t.Fatalf("new file's unsynced name survived: %v", err)
	}
	if _, err := f.WriteAt([]byte("x"), 0); err != ErrStale {
		t.Fatalf("stale handle: %v", err)
	}
	// A rename without SyncDir is undone.
	c.Rename("/d/kept", "/d/moved")
	c.PowerCut()
	if _, err := c.ReadFile("/d/kept"); err != nil {
		t.Fatalf("unsynced rename kept: %v", err)
	}
	if names, _ := c.ReadDir("/d"); len(names) != 1 || names[0] != "kept" {
		t.Fatalf("names %v", names)
	}
}
