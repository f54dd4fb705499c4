// Package packet is the sealed packet format (version 1, docs/packet.md):
// the content of one submission — metadata with the customer's number and the
// PDF — encrypted with age to the central's recipient. The signed outer
// manifest (wire.Manifest) describes the ciphertext and says nothing of the
// content.
//
// Plaintext layout inside the age stream:
//
//	"einwurf-payload-v1\n"
//	uint32 big endian: length of the metadata JSON (at most MaxMeta)
//	metadata JSON (Meta)
//	the PDF, Meta.PDFSize bytes
//
// Both Seal and Open stream: neither holds the PDF in memory.
package packet

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"filippo.io/age"
)

// Version is the packet format version.
const Version = 1

const magic = "einwurf-payload-v1\n"

// MaxMeta bounds the metadata JSON.
const MaxMeta = 16 << 10

// Errors of packet handling.
var (
	ErrFormat  = errors.New("packet: malformed payload")
	ErrDecrypt = errors.New("packet: cannot decrypt")
	ErrPDFHash = errors.New("packet: PDF does not match its metadata")
)

// Meta describes the content of a packet. It travels only encrypted.
type Meta struct {
	V         int       `json:"v"`
	PacketID  string    `json:"packet_id"`
	KioskID   string    `json:"kiosk_id"`
	Number    string    `json:"number"` // normalised Kundennummer or BG-Nummer
	Kind      string    `json:"kind"`   // "Kundennummer" or "BG-Nummer"
	Team      string    `json:"team"`   // placement or benefits
	Scanned   time.Time `json:"scanned"`
	Pages     int       `json:"pages"`
	PDFSize   int64     `json:"pdf_size"`
	PDFSHA256 string    `json:"pdf_sha256"` // hex
}

func (m Meta) validate() error {
	if m.V != Version || m.PacketID == "" || m.KioskID == "" || m.Number == "" ||
		m.PDFSize <= 0 || len(m.PDFSHA256) != 64 || m.Pages <= 0 {
		return fmt.Errorf("%w: incomplete metadata", ErrFormat)
	}
	return nil
}

// NewID returns a fresh random packet id: 32 lower-case hex characters.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+).
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// Sealed is what Seal reports of the ciphertext it wrote.
type Sealed struct {
	Size   int64
	SHA256 [32]byte
}

// Seal encrypts meta and the PDF read from pdf to the recipient and writes
// the ciphertext to dst. It checks that pdf yields exactly meta.PDFSize bytes
// with hash meta.PDFSHA256.
func Seal(dst io.Writer, to age.Recipient, meta Meta, pdf io.Reader) (Sealed, error) {
	if err := meta.validate(); err != nil {
		return Sealed{}, err
	}
	mj, err := json.Marshal(meta)
	if err != nil {
		return Sealed{}, fmt.Errorf("packet: %w", err)
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(dst, h)}
	enc, err := age.Encrypt(cw, to)
	if err != nil {
		return Sealed{}, fmt.Errorf("packet: encrypt: %w", err)
	}
	hdr := make([]byte, 0, len(magic)+4+len(mj))
	hdr = append(hdr, magic...)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(mj)))
	hdr = append(hdr, mj...)
	if _, err := enc.Write(hdr); err != nil {
		return Sealed{}, fmt.Errorf("packet: write: %w", err)
	}
	ph := sha256.New()
	n, err := io.Copy(enc, io.TeeReader(io.LimitReader(pdf, meta.PDFSize+1), ph))
	if err != nil {
		return Sealed{}, fmt.Errorf("packet: copy PDF: %w", err)
	}
	if n != meta.PDFSize || hex.EncodeToString(ph.Sum(nil)) != meta.PDFSHA256 {
		return Sealed{}, fmt.Errorf("%w: %d bytes read, metadata says %d", ErrPDFHash, n, meta.PDFSize)
	}
	if err := enc.Close(); err != nil {
		return Sealed{}, fmt.Errorf("packet: encrypt: %w", err)
	}
	var s Sealed
	s.Size = cw.n
	copy(s.SHA256[:], h.Sum(nil))
	return s, nil
}

// Open decrypts the ciphertext read from src with id and returns the
// metadata and a reader of the PDF. The reader yields exactly Meta.PDFSize
// bytes and fails with ErrPDFHash at the end if they do not match the hash,
// or if anything follows them; the caller must read it to io.EOF before
// trusting the PDF.
func Open(src io.Reader, id age.Identity) (Meta, io.Reader, error) {
	dec, err := age.Decrypt(src, id)
	if err != nil {
		return Meta{}, nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	br := bufio.NewReader(dec)
	meta, err := ReadHeader(br)
	if err != nil {
		return Meta{}, nil, err
	}
	return meta, &pdfReader{r: br, left: meta.PDFSize, want: meta.PDFSHA256, h: sha256.New()}, nil
}

// ReadHeader reads and checks the magic and metadata at the start of a
// decrypted payload.
func ReadHeader(r io.Reader) (Meta, error) {
	var hdr [len(magic) + 4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Meta{}, fmt.Errorf("%w: short header", ErrFormat)
	}
	if string(hdr[:len(magic)]) != magic {
		return Meta{}, fmt.Errorf("%w: unknown payload version", ErrFormat)
	}
	n := binary.BigEndian.Uint32(hdr[len(magic):])
	if n == 0 || n > MaxMeta {
		return Meta{}, fmt.Errorf("%w: metadata length %d", ErrFormat, n)
	}
	mj := make([]byte, n)
	if _, err := io.ReadFull(r, mj); err != nil {
		return Meta{}, fmt.Errorf("%w: short metadata", ErrFormat)
	}
	var meta Meta
	dec := json.NewDecoder(bytes.NewReader(mj))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		return Meta{}, fmt.Errorf("%w: metadata: %v", ErrFormat, err)
	}
	if err := meta.validate(); err != nil {
		return Meta{}, err
	}
	return meta, nil
}

type pdfReader struct {
	r    *bufio.Reader
	left int64
	want string
	h    hash.Hash
	err  error
}

func (p *pdfReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	if p.left == 0 {
		p.err = io.EOF
		if _, err := p.r.ReadByte(); err != io.EOF {
			p.err = fmt.Errorf("%w: trailing data", ErrPDFHash)
		} else if hex.EncodeToString(p.h.Sum(nil)) != p.want {
			p.err = ErrPDFHash
		}
		return 0, p.err
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	p.h.Write(b[:n])
	p.left -= int64(n)
	if err == io.EOF && p.left > 0 {
		p.err = fmt.Errorf("%w: truncated", ErrPDFHash)
		return n, p.err
	}
	if err != nil && err != io.EOF {
		p.err = fmt.Errorf("%w: %v", ErrDecrypt, err)
		return n, p.err
	}
	return n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
