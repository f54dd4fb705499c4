package keys

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/einwurf/einwurf/wire"
)

// FuzzRegister reads any kiosks.json (and retired-keys file): lookups
// never panic, fail with ErrBadKey or ErrUnknownKiosk, hand out only
// well-formed ids and keys, and change neither file.
func FuzzRegister(f *testing.F) {
	pub, _, _ := ed25519.GenerateKey(nil)
	dir := f.TempDir()
	r := OpenRegister(filepath.Join(dir, "kiosks.json"))
	if err := r.Enrol("k-a", pub); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(dir, "kiosks.json"))
	f.Add(good, []byte(`{"k-a":["AAAA"]}`))
	f.Add([]byte(`{"K-A":"AAAA"}`), []byte(`null`))
	f.Add([]byte(`{"k-a":"AAAA"}`), []byte(`{`))
	f.Add([]byte(`{"../x":"`+string(bytes.Repeat([]byte("A"), 43))+`="}`), []byte(``))
	f.Add([]byte(`[]`), []byte(`{"k-a":[null]}`))
	f.Fuzz(func(t *testing.T, register, retired []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "kiosks.json")
		os.WriteFile(path, register, 0o644)
		os.WriteFile(path+".retired.json", retired, 0o644)
		r := OpenRegister(path)
		ids, err := r.Kiosks()
		if err != nil && !errors.Is(err, ErrBadKey) {
			t.Fatalf("Kiosks: %v", err)
		}
		for _, id := range ids {
			if !wire.ValidID(id) {
				t.Fatalf("id %q handed out", id)
			}
			k, err := r.Lookup(id)
			if err != nil || len(k) != ed25519.PublicKeySize {
				t.Fatalf("Lookup(%q) = %d bytes, %v", id, len(k), err)
			}
			if keys, err := r.Keys(id); err == nil {
				for _, k := range keys {
					if len(k) == 0 {
						t.Fatalf("an empty retired key for %s", id)
					}
				}
			}
		}
		if _, err := r.Lookup("k-a"); err != nil && !errors.Is(err, ErrBadKey) && !errors.Is(err, ErrUnknownKiosk) {
			t.Fatalf("Lookup: %v", err)
		}
		if b, _ := os.ReadFile(path); !bytes.Equal(b, register) {
			t.Fatal("reading changed the register")
		}
		if b, _ := os.ReadFile(path + ".retired.json"); !bytes.Equal(b, retired) {
			t.Fatal("reading changed the retired keys")
		}
	})
}

// FuzzLoad reads any key files of the central: Load fails with ErrBadKey
// or returns usable keys; LoadPublic likewise; nothing is written.
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	if _, err := Generate(dir); err != nil {
		f.Fatal(err)
	}
	id, _ := os.ReadFile(filepath.Join(dir, "age-identity.txt"))
	sign, _ := os.ReadFile(filepath.Join(dir, "sign.key"))
	pub, _ := os.ReadFile(filepath.Join(dir, "central.pub.json"))
	f.Add(id, sign, pub)
	f.Add([]byte("AGE-SECRET-KEY-1"), []byte("AAAA"), []byte(`{"age_recipient":"x","sign_pub":"AAAA"}`))
	f.Add([]byte(""), []byte("=="), []byte(`{}`))
	f.Fuzz(func(t *testing.T, id, sign, pub []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "age-identity.txt"), id, 0o600)
		os.WriteFile(filepath.Join(dir, "sign.key"), sign, 0o600)
		os.WriteFile(filepath.Join(dir, "central.pub.json"), pub, 0o644)
		c, err := Load(dir)
		switch {
		case err == nil && (c.Identity == nil || len(c.SignKey) != ed25519.PrivateKeySize):
			t.Fatalf("Load returned unusable keys")
		case err != nil && !errors.Is(err, ErrBadKey):
			t.Fatalf("Load: %v", err)
		}
		p, err := LoadPublic(filepath.Join(dir, "central.pub.json"))
		if err == nil {
			if _, rerr := p.Recipient(); rerr != nil || len(p.SignPub) != ed25519.PublicKeySize {
				t.Fatalf("LoadPublic accepted unusable keys: %v", rerr)
			}
		} else if !errors.Is(err, ErrBadKey) {
			t.Fatalf("LoadPublic: %v", err)
		}
		if des, _ := os.ReadDir(dir); len(des) != 3 {
			t.Fatalf("loading wrote files (%d now)", len(des))
		}
	})
}

// FuzzParsePublicKey parses what an operator pastes into enrol.
func FuzzParsePublicKey(f *testing.F) {
	pub, _, _ := ed25519.GenerateKey(nil)
	f.Add(" " + base64.StdEncoding.EncodeToString(pub) + "\n")
	f.Add("AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePublicKey(s)
		if err == nil && len(k) != ed25519.PublicKeySize {
			t.Fatalf("%d-byte key accepted", len(k))
		}
		if err != nil && !errors.Is(err, ErrBadKey) {
			t.Fatalf("error %v", err)
		}
	})
}
