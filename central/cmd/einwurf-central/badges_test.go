package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/wire"
)

func TestStaffList(t *testing.T) {
	l, err := staffList(strings.NewReader("# staff\nbadge 12345678\n\npin 2 24681357\n"), 7)
	if err != nil {
		t.Fatal(err)
	}
	if l.Seq != 7 || len(l.Badges) != 1 || l.Badges[0] != wire.BadgeHash(l.Salt, "12345678") || len(l.PINs) != 1 {
		t.Fatalf("%+v", l)
	}
	p := l.PINs[0]
	if !bytes.Equal(argon2.IDKey([]byte("24681357"), p.Salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(p.Hash))), p.Hash) {
		t.Fatal("PIN hash does not verify")
	}
	// A bad line is refused without echoing it (it may hold a PIN).
	_, err = staffList(strings.NewReader("pin 1 12\n"), 1)
	if !errors.Is(err, errStaffInput) || strings.Contains(err.Error(), "12\"") {
		t.Fatalf("bad PIN: %v", err)
	}
	if _, err := staffList(strings.NewReader("badge 035F083761\n"), 1); !errors.Is(err, errStaffInput) {
		t.Fatalf("a customer number as a badge: %v", err)
	}
}

func TestBadgesSubcommand(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keygen", "-keys", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	c, err := keys.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, w, _ := os.Pipe()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	w.WriteString("badge 99887766\n")
	w.Close()
	dst := filepath.Join(dir, "staff.json")
	if err := run(context.Background(), []string{"badges", "-keys", dir, "-seq", "4", "-out", dst}, &out, &out); err != nil {
		t.Fatal(err, out.String())
	}
	b, _ := os.ReadFile(dst)
	l, err := wire.OpenStaffList(c.Public().SignPub, b)
	if err != nil || l.Seq != 4 || len(l.Badges) != 1 {
		t.Fatalf("%+v %v", l, err)
	}
}
