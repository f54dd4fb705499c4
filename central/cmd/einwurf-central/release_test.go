package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/central/store"
)

func TestReleaseCommand(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	common := []string{"-repo", filepath.Join(dir, "tuf"), "-tuf-keys", filepath.Join(dir, "tk"), "-db", filepath.Join(dir, "c.db")}
	runOK := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := run(ctx, append([]string{"release", args[0]}, append(common, args[1:]...)...), &out, &errb); err != nil {
			t.Fatalf("release %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	runOK("init")
	p := filepath.Join(dir, "b.tar")
	os.WriteFile(p, []byte("payload"), 0o644)
	runOK("add", "-name", "einwurf-2.0.0.tar", "-version", "2.0.0", p)
	st, err := openStore(ctx, filepath.Join(dir, "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.PutKiosk(ctx, store.KioskState{KioskID: "k1", Site: "s"})
	st.Close()
	runOK("start", "-rollout", "r1", "-name", "einwurf-2.0.0.tar", "-group", "s", "-canary", "k1")
	out := runOK("status", "-rollout", "r1")
	if !strings.Contains(out, "rollout r1: einwurf-2.0.0.tar 2.0.0") || !strings.Contains(out, "k1") || !strings.Contains(out, "running") {
		t.Fatalf("status:\n%s", out)
	}
	if err := run(ctx, []string{"release", "bogus"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Fatal("unknown verb accepted")
	}
}
