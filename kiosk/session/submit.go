package session

import (
	"context"
	"time"

	"github.com/einwurf/einwurf/kiosk/ident"
)

// Document is a finished visit's document, handed to the Submitter. The PDF
// is plaintext in the session's private folder; the Submitter must not keep
// a reference to it after Submit returns, since the session wipes it.
type Document struct {
	Number  ident.Number
	PDF     string // path
	Pages   int
	Size    int64
	SHA256  [32]byte
	Scanned time.Time
}

// Receipt is what the customer is told once the document is safe in the
// kiosk's outbox.
type Receipt struct {
	PacketID string
	// Number is the short reference printed on the customer's receipt.
	Number   string
	Accepted time.Time
	// Pages, Masked and Team are what the printed receipt shows of the
	// document (the masked number only); the Submitter fills them in.
	Pages  int
	Masked string
	Team   string
	// Statement is the kiosk's signed statement of the submission
	// (wire.Statement in its text form), for the receipt's QR code.
	Statement string
}

// QR is the content of the receipt's QR code (empty: none).
func (r Receipt) QR() string { return r.Statement }

// Submitter takes a finished document. When Submit returns nil, the
// document is durably stored (sealed and fsync'd): only then is the customer
// told it was accepted. Firmware implements it.
type Submitter interface {
	Submit(ctx context.Context, d Document) (Receipt, error)
}
