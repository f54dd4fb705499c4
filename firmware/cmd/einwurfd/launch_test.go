package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/einwurf/einwurf/firmware/appliance"
)

func TestLaunchFile(t *testing.T) {
	t.Setenv("RUNTIME_DIRECTORY", t.TempDir())
	path := launchFile("")
	if filepath.Base(path) != launchFileName {
		t.Fatalf("launch file %q", path)
	}
	n := 0
	a := &appliance.Appliance{UIURL: "http://127.0.0.1:8080/", UILaunch: func() string { n++; return "/launch/abc" }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := keepLaunchURL(ctx, a, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	st, _ := os.Stat(path)
	if err != nil || string(b) != "http://127.0.0.1:8080/launch/abc\n" || st.Mode().Perm() != 0o640 || n != 1 {
		t.Fatalf("launch file %q %v mode %v, %d paths", b, err, st.Mode(), n)
	}
}
