package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// TypeStatement is the signature domain of a receipt statement.
const TypeStatement = "statement"

// StatementPrefix starts the text form of a statement: a version tag in
// the QR code's alphanumeric alphabet.
const StatementPrefix = "EW1:"

// MaxStatement bounds the text form of a statement that ParseStatement
// accepts; a real one is about 230 characters.
const MaxStatement = 1024

// ErrStatement means a statement's text is malformed; it says nothing of
// whether a document was handed in.
var ErrStatement = errors.New("wire: malformed statement")

// Statement is what a kiosk signs when it accepts a document and prints in
// the customer's receipt's QR code: the proof of the day and time of
// submission. It names the packet and the PDF's hash and carries no
// personal data (no number, no page content). The central verifies it with
// the kiosk's enrolled key, even years later (einwurf-central verify).
type Statement struct {
	KioskID  string    // the signing kiosk
	KeyID    [4]byte   // first bytes of SHA-256 of the kiosk's public key, to tell rotated keys apart
	PacketID string    // the sealed packet
	Accepted time.Time // when the kiosk accepted the document (second precision)
	Pages    int       // pages sent
	PDF      [32]byte  // SHA-256 of the PDF
	Code     string    // the receipt code printed beside it
}

// KeyIDOf is a public key's KeyID.
func KeyIDOf(pub ed25519.PublicKey) [4]byte {
	s := sha256.Sum256(pub)
	return [4]byte(s[:4])
}

// Limits of a statement's fields.
const (
	maxStatementID   = 64
	maxStatementCode = 32
	maxPages         = 1 << 20
)

func (s Statement) check() error {
	switch {
	case !ValidID(s.KioskID):
		return fmt.Errorf("%w: kiosk id", ErrStatement)
	case !ValidID(s.PacketID):
		return fmt.Errorf("%w: packet id", ErrStatement)
	case s.Accepted.Unix() <= 0:
		return fmt.Errorf("%w: time", ErrStatement)
	case s.Pages <= 0 || s.Pages > maxPages:
		return fmt.Errorf("%w: pages", ErrStatement)
	case len(s.Code) > maxStatementCode:
		return fmt.Errorf("%w: receipt code", ErrStatement)
	}
	for _, c := range []byte(s.Code) {
		if c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: receipt code", ErrStatement)
		}
	}
	return nil
}

// body is the binary form that is signed: version 1, kiosk id, key id,
// packet id (hex-packed when it is lower-case hex of even length), time
// (Unix seconds), pages, PDF hash, code.
func (s Statement) body() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 160)
	b = append(b, 1)
	b = append(b, byte(len(s.KioskID)))
	b = append(b, s.KioskID...)
	b = append(b, s.KeyID[:]...)
	if raw, err := hex.DecodeString(s.PacketID); err == nil && strings.ToLower(s.PacketID) == s.PacketID {
		b = append(b, 0x80|byte(len(raw)))
		b = append(b, raw...)
	} else {
		b = append(b, byte(len(s.PacketID)))
		b = append(b, s.PacketID...)
	}
	b = binary.AppendUvarint(b, uint64(s.Accepted.Unix()))
	b = binary.AppendUvarint(b, uint64(s.Pages))
	b = append(b, s.PDF[:]...)
	b = append(b, byte(len(s.Code)))
	b = append(b, s.Code...)
	return b, nil
}

// Sign returns the text form of s signed with key: StatementPrefix and the
// base45 (RFC 9285) of the body and its Ed25519 signature, so a QR code
// holds it in alphanumeric mode. s.KeyID is set from key.
func (s Statement) Sign(key ed25519.PrivateKey) (string, error) {
	s.KeyID = KeyIDOf(key.Public().(ed25519.PublicKey))
	body, err := s.body()
	if err != nil {
		return "", err
	}
	sig := ed25519.Sign(key, signedBytes(TypeStatement, body))
	return StatementPrefix + base45(append(body, sig...)), nil
}

// SignedStatement is a parsed statement whose signature is not yet
// checked: the receiver looks up the key of KioskID, then calls Verify.
type SignedStatement struct {
	Statement
	body, sig []byte
}

// ParseStatement parses the text form without checking the signature.
func ParseStatement(text string) (SignedStatement, error) {
	var out SignedStatement
	text = strings.TrimSpace(text)
	if len(text) > MaxStatement {
		return out, fmt.Errorf("%w: %d characters", ErrStatement, len(text))
	}
	rest, ok := strings.CutPrefix(text, StatementPrefix)
	if !ok {
		return out, fmt.Errorf("%w: not a receipt statement", ErrStatement)
	}
	raw, err := unbase45(rest)
	if err != nil {
		return out, err
	}
	if len(raw) < ed25519.SignatureSize+1 {
		return out, fmt.Errorf("%w: too short", ErrStatement)
	}
	body, sig := raw[:len(raw)-ed25519.SignatureSize], raw[len(raw)-ed25519.SignatureSize:]
	r := bytes.NewReader(body)
	fail := func(what string) (SignedStatement, error) {
		return SignedStatement{}, fmt.Errorf("%w: %s", ErrStatement, what)
	}
	if v, err := r.ReadByte(); err != nil || v != 1 {
		return fail("version")
	}
	str := func() (string, bool) {
		n, err := r.ReadByte()
		if err != nil || int(n) > r.Len() {
			return "", false
		}
		p := make([]byte, n)
		_, _ = r.Read(p)
		return string(p), true
	}
	var st Statement
	if st.KioskID, ok = str(); !ok {
		return fail("kiosk id")
	}
	if _, err := r.Read(st.KeyID[:]); err != nil || r.Len() == 0 {
		return fail("key id")
	}
	n, _ := r.ReadByte()
	if n&0x80 != 0 {
		if int(n&0x7f) > r.Len() {
			return fail("packet id")
		}
		p := make([]byte, n&0x7f)
		_, _ = r.Read(p)
		st.PacketID = hex.EncodeToString(p)
	} else {
		_ = r.UnreadByte()
		if st.PacketID, ok = str(); !ok {
			return fail("packet id")
		}
	}
	t, err := binary.ReadUvarint(r)
	if err != nil || t > 1<<40 {
		return fail("time")
	}
	st.Accepted = time.Unix(int64(t), 0).UTC()
	pages, err := binary.ReadUvarint(r)
	if err != nil || pages > maxPages {
		return fail("pages")
	}
	st.Pages = int(pages)
	if _, err := r.Read(st.PDF[:]); err != nil || r.Len() == 0 {
		return fail("pdf hash")
	}
	if st.Code, ok = str(); !ok {
		return fail("receipt code")
	}
	if r.Len() != 0 {
		return fail("trailing bytes")
	}
	if err := st.check(); err != nil {
		return SignedStatement{}, err
	}
	// The signed bytes must be the canonical ones, so one statement has
	// one text form.
	if again, err := st.body(); err != nil || !bytes.Equal(again, body) {
		return fail("not canonical")
	}
	return SignedStatement{Statement: st, body: body, sig: sig}, nil
}

// Verify checks the signature with the kiosk's public key pub. A key whose
// KeyID differs is reported as ErrSignature too: the statement was signed
// by another (perhaps an earlier) key of that kiosk.
func (s SignedStatement) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize || KeyIDOf(pub) != s.KeyID {
		return fmt.Errorf("%w: statement signed by another key", ErrSignature)
	}
	if !ed25519.Verify(pub, signedBytes(TypeStatement, s.body), s.sig) {
		return ErrSignature
	}
	return nil
}

// base45 alphabet (RFC 9285), a subset of the QR alphanumeric alphabet.
const b45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

func base45(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b)/2*3 + 2)
	for i := 0; i+1 < len(b); i += 2 {
		n := int(b[i])*256 + int(b[i+1])
		sb.WriteByte(b45[n%45])
		sb.WriteByte(b45[n/45%45])
		sb.WriteByte(b45[n/2025])
	}
	if len(b)%2 == 1 {
		n := int(b[len(b)-1])
		sb.WriteByte(b45[n%45])
		sb.WriteByte(b45[n/45])
	}
	return sb.String()
}

func unbase45(s string) ([]byte, error) {
	val := func(c byte) int { return strings.IndexByte(b45, c) }
	if len(s)%3 == 1 {
		return nil, fmt.Errorf("%w: base45 length", ErrStatement)
	}
	out := make([]byte, 0, len(s)/3*2+1)
	for i := 0; i < len(s); i += 3 {
		if i+2 >= len(s) {
			c, d := val(s[i]), val(s[i+1])
			if c < 0 || d < 0 || c+d*45 > 0xff {
				return nil, fmt.Errorf("%w: base45", ErrStatement)
			}
			out = append(out, byte(c+d*45))
			break
		}
		c, d, e := val(s[i]), val(s[i+1]), val(s[i+2])
		if c < 0 || d < 0 || e < 0 {
			return nil, fmt.Errorf("%w: base45", ErrStatement)
		}
		n := c + d*45 + e*2025
		if n > 0xffff {
			return nil, fmt.Errorf("%w: base45", ErrStatement)
		}
		out = append(out, byte(n>>8), byte(n))
	}
	return out, nil
}
