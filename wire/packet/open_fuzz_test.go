package packet

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"filippo.io/age"
)

// FuzzOpen runs Open end to end, decryption included, on payloads of any
// content (encrypted to the identity, so the parser behind age is reached)
// and on sealed packets with a byte flipped. Open and reading its PDF never
// panic, and a PDF read to the end without error is exactly what the
// metadata promises.
func FuzzOpen(f *testing.F) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	pdf := []byte("%PDF-1.7 a page\n")
	var good bytes.Buffer
	if _, err := Seal(&good, id.Recipient(), testMeta(pdf), bytes.NewReader(pdf)); err != nil {
		f.Fatal(err)
	}
	// The plaintext of a good packet, for the mutator to work on.
	_, r, _ := Open(bytes.NewReader(good.Bytes()), id)
	io.ReadAll(r)
	dec, _ := age.Decrypt(bytes.NewReader(good.Bytes()), id)
	plain, _ := io.ReadAll(dec)
	f.Add(plain, uint32(0))
	f.Add(plain[:len(plain)-1], uint32(0))
	f.Add(append(bytes.Clone(plain), 'x'), uint32(0))
	f.Add([]byte(magic+"\x00\x00\x00\x02{}"), uint32(0))
	f.Add([]byte{}, uint32(1))
	f.Add([]byte{}, uint32(len(good.Bytes())-3))
	f.Fuzz(func(t *testing.T, payload []byte, flip uint32) {
		var ct []byte
		if flip == 0 {
			var buf bytes.Buffer
			w, err := age.Encrypt(&buf, id.Recipient())
			if err != nil {
				t.Fatal(err)
			}
			w.Write(payload)
			w.Close()
			ct = buf.Bytes()
		} else {
			ct = bytes.Clone(good.Bytes())
			ct[int(flip)%len(ct)] ^= byte(flip>>8) | 1
		}
		meta, r, err := Open(bytes.NewReader(ct), id)
		if err != nil {
			return
		}
		if meta.PDFSize < 0 {
			t.Fatalf("negative PDF size accepted: %+v", meta)
		}
		out, err := io.ReadAll(io.LimitReader(r, meta.PDFSize+1))
		if err != nil {
			return
		}
		sum := sha256.Sum256(out)
		if int64(len(out)) != meta.PDFSize || hex.EncodeToString(sum[:]) != meta.PDFSHA256 {
			t.Fatalf("a PDF read without error does not match its metadata (%d bytes, want %d)", len(out), meta.PDFSize)
		}
	})
}
