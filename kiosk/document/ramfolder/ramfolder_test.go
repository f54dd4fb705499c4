package ramfolder

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestFolder(t *testing.T) {
	f, err := New()
	if err != nil {
		t.Fatal(err)
	}
	write := func(data string) string {
		t.Helper()
		w, err := f.CreateTemp("page")
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return w.Name()
	}
	a := write("first")
	if !strings.HasPrefix(a, "/proc/self/fd/") {
		t.Fatalf("path %s", a)
	}
	if b, err := os.ReadFile(a); err != nil || string(b) != "first" {
		t.Fatalf("read back %q %v", b, err)
	}
	pa, err := f.Rename(a, "preview.pdf")
	if err != nil {
		t.Fatal(err)
	}
	// A second file of that name replaces the first.
	pb, err := f.Rename(write("second"), "preview.pdf")
	if err != nil || f.Len() != 1 {
		t.Fatalf("rename over: %v, %d files", err, f.Len())
	}
	if b, _ := os.ReadFile(pb); string(b) != "second" {
		t.Fatalf("after replace %q", b)
	}
	if err := f.Remove(pa); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("remove a replaced file: %v", err)
	}
	write("third")
	if err := f.Close(); err != nil || f.Len() != 0 {
		t.Fatalf("close: %v, %d files", err, f.Len())
	}
	if _, err := f.CreateTemp("x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("create after close: %v", err)
	}
}
