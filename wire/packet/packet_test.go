package packet

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"

	"filippo.io/age"
)

func testMeta(pdf []byte) Meta {
	s := sha256.Sum256(pdf)
	return Meta{V: 1, PacketID: NewID(), KioskID: "k-test", Number: "035F083761", Kind: "Kundennummer",
		Team: "placement", Scanned: time.Unix(1700000000, 0).UTC(), Pages: 3,
		PDFSize: int64(len(pdf)), PDFSHA256: hex.EncodeToString(s[:])}
}

func TestSealOpenHybrid(t *testing.T) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	pdf := bytes.Repeat([]byte("%PDF-1.7 page data "), 50000)
	meta := testMeta(pdf)
	var ct bytes.Buffer
	sealed, err := Seal(&ct, id.Recipient(), meta, bytes.NewReader(pdf))
	if err != nil {
		t.Fatal(err)
	}
	if sealed.Size != int64(ct.Len()) || sealed.SHA256 != sha256.Sum256(ct.Bytes()) {
		t.Fatal("Sealed does not describe the ciphertext")
	}
	for _, secret := range [][]byte{[]byte(meta.Number), pdf[:64]} {
		if bytes.Contains(ct.Bytes(), secret) {
			t.Fatalf("ciphertext contains plaintext %q", secret[:10])
		}
	}
	got, r, err := Open(bytes.NewReader(ct.Bytes()), id)
	if err != nil {
		t.Fatal(err)
	}
	if got != meta {
		t.Fatalf("meta = %+v, want %+v", got, meta)
	}
	out, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(out, pdf) {
		t.Fatalf("PDF differs (%d bytes, %v)", len(out), err)
	}
}

func TestSealChecksPDF(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	pdf := []byte("%PDF-1.7 short")
	meta := testMeta(pdf)
	if _, err := Seal(io.Discard, id.Recipient(), meta, bytes.NewReader(pdf[:5])); !errors.Is(err, ErrPDFHash) {
		t.Fatalf("short PDF: %v", err)
	}
	meta.Number = ""
	if _, err := Seal(io.Discard, id.Recipient(), meta, bytes.NewReader(pdf)); !errors.Is(err, ErrFormat) {
		t.Fatalf("incomplete meta: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	pdf := bytes.Repeat([]byte("x"), 100000)
	var ct bytes.Buffer
	if _, err := Seal(&ct, id.Recipient(), testMeta(pdf), bytes.NewReader(pdf)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(bytes.NewReader(ct.Bytes()), other); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong key: %v", err)
	}
	// Flip a byte in the last payload chunk: age's authentication catches it
	// when the reader reaches it.
	bad := bytes.Clone(ct.Bytes())
	bad[len(bad)-20] ^= 1
	if _, r, err := Open(bytes.NewReader(bad), id); err == nil {
		if _, err := io.ReadAll(r); err == nil {
			t.Fatal("tampered ciphertext read without error")
		}
	}
	// Truncated.
	if _, r, err := Open(bytes.NewReader(ct.Bytes()[:ct.Len()-100]), id); err == nil {
		if _, err := io.ReadAll(r); err == nil {
			t.Fatal("truncated ciphertext read without error")
		}
	}
}

func FuzzReadHeader(f *testing.F) {
	meta := testMeta([]byte("%PDF"))
	good := append([]byte(magic), 0, 0, 0, 0)
	mj := []byte(`{"v":1,"packet_id":"ab","kiosk_id":"k","number":"035F083761","kind":"Kundennummer","team":"placement","scanned":"2026-01-01T00:00:00Z","pages":1,"pdf_size":4,"pdf_sha256":"` + meta.PDFSHA256 + `"}`)
	binary.BigEndian.PutUint32(good[len(magic):], uint32(len(mj)))
	good = append(good, mj...)
	f.Add(good)
	f.Add([]byte(magic))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadHeader(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not ErrFormat: %v", err)
			}
			return
		}
		if m.validate() != nil {
			t.Fatal("accepted invalid meta")
		}
	})
}

// BenchmarkSeal measures sealing a 20 MB PDF to the central's hybrid
// recipient, streaming (the allocation per op stays far below the size).
func BenchmarkSeal(b *testing.B) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		b.Fatal(err)
	}
	pdf := bytes.Repeat([]byte("%PDF-1.7 scanned page bytes ........"), 20<<20/36)
	meta := testMeta(pdf)
	b.SetBytes(int64(len(pdf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Seal(io.Discard, id.Recipient(), meta, bytes.NewReader(pdf)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen measures decrypting and checking the same packet.
func BenchmarkOpen(b *testing.B) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		b.Fatal(err)
	}
	pdf := bytes.Repeat([]byte("%PDF-1.7 scanned page bytes ........"), 20<<20/36)
	var ct bytes.Buffer
	if _, err := Seal(&ct, id.Recipient(), testMeta(pdf), bytes.NewReader(pdf)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(pdf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, r, err := Open(struct{ io.Reader }{bytes.NewReader(ct.Bytes())}, id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
