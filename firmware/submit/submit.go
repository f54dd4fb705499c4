// Package submit is the kiosk's Submitter: it seals a finished document
// into a packet (encrypted to the central, manifest signed with the device
// key), commits it to the spool, and wakes the uplink.
package submit

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"filippo.io/age"

	"github.com/einwurf/einwurf/firmware/spool"
	"github.com/einwurf/einwurf/kiosk/session"
	"github.com/einwurf/einwurf/wire"
	"github.com/einwurf/einwurf/wire/packet"
)

// Sealer implements session.Submitter.
type Sealer struct {
	KioskID string
	Key     ed25519.PrivateKey
	// CurrentKey, when set, is asked for the device key at each seal
	// instead of Key (the key may be rotated while the kiosk runs).
	CurrentKey func() ed25519.PrivateKey
	Recipient  age.Recipient
	Spool      *spool.Spool
	// Kick wakes the uplink; may be nil.
	Kick func()
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
}

var _ session.Submitter = (*Sealer)(nil)

func (s *Sealer) key() ed25519.PrivateKey {
	if s.CurrentKey != nil {
		return s.CurrentKey()
	}
	return s.Key
}

// Submit seals d into the spool. On success the entry is durable.
func (s *Sealer) Submit(ctx context.Context, d session.Document) (session.Receipt, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if err := ctx.Err(); err != nil {
		return session.Receipt{}, err
	}
	pdf, err := os.Open(d.PDF)
	if err != nil {
		return session.Receipt{}, fmt.Errorf("submit: %w", err)
	}
	defer pdf.Close()
	id := packet.NewID()
	meta := packet.Meta{V: packet.Version, PacketID: id, KioskID: s.KioskID,
		Number: d.Number.String(), Kind: d.Number.Kind().String(), Team: string(d.Number.Team()),
		Scanned: d.Scanned.UTC(), Pages: d.Pages, PDFSize: d.Size, PDFSHA256: hex.EncodeToString(d.SHA256[:])}
	p, err := s.Spool.Create()
	if err != nil {
		return session.Receipt{}, fmt.Errorf("submit: %w", err)
	}
	sealed, err := packet.Seal(p, s.Recipient, meta, pdf)
	if err != nil {
		p.Abort()
		return session.Receipt{}, fmt.Errorf("submit: %w", err)
	}
	// Second precision: the signed statement carries whole seconds, and
	// the receipt must say what the statement says.
	accepted := now().UTC().Truncate(time.Second)
	m := wire.Manifest{V: 1, PacketID: id, KioskID: s.KioskID, Created: accepted, Size: sealed.Size,
		SHA256: hex.EncodeToString(sealed.SHA256[:]), ChunkSize: wire.ChunkSize}
	signed, err := wire.Sign(s.key(), wire.TypeManifest, m)
	if err != nil {
		p.Abort()
		return session.Receipt{}, err
	}
	code := ReceiptNumber(id)
	statement, err := wire.Statement{KioskID: s.KioskID, PacketID: id, Accepted: accepted, Pages: d.Pages,
		PDF: d.SHA256, Code: code}.Sign(s.key())
	if err != nil {
		p.Abort()
		return session.Receipt{}, fmt.Errorf("submit: %w", err)
	}
	if err := p.Commit(m, signed); err != nil {
		return session.Receipt{}, fmt.Errorf("submit: %w", err)
	}
	if s.Kick != nil {
		s.Kick()
	}
	return session.Receipt{PacketID: id, Number: code, Accepted: accepted, Pages: d.Pages,
		Masked: d.Number.Masked(), Team: string(d.Number.Team()), Statement: statement}, nil
}

// ReceiptNumber is the customer's reference for a packet: the first 12 hex
// digits of its random id, grouped for reading aloud on the phone.
func ReceiptNumber(packetID string) string { return wire.ReceiptCode(packetID) }
