// Package wire is the contract between a kiosk and the central: topic names,
// message types and their signatures. It is the only package the kiosk and
// the central share, and it imports nothing of either.
//
// Every message that one side acts on is signed with Ed25519 by its sender:
// the kiosk signs packet manifests with its device key; the central signs
// receipts, progress reports and commands with its signing key. A signature
// covers a domain string naming the message type, so a signature made for
// one type never verifies as another.
package wire

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Version is the version of the wire contract; it is the second topic level.
const Version = "v1"

// Root is the first topic level of every Einwurf topic.
const Root = "einwurf/" + Version

// MaxMessage bounds the size of any JSON message this package parses.
const MaxMessage = 64 << 10

// Errors of the wire contract.
var (
	ErrSignature = errors.New("wire: bad signature")
	ErrMalformed = errors.New("wire: malformed message")
	ErrTopic     = errors.New("wire: not an einwurf topic")
	ErrExpired   = errors.New("wire: message expired")
)

// idPattern is what kiosk and packet ids look like: short, lower-case,
// without MQTT wildcards or separators, and without personal data.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// ValidID reports whether s may be used as a kiosk or packet id.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// Topics a kiosk publishes under. Its broker ACL allows it to publish only
// under KioskPrefix(its id) and to subscribe only under CentralPrefix(its id).

// KioskPrefix is the topic tree a kiosk publishes under.
func KioskPrefix(kioskID string) string { return Root + "/k/" + kioskID }

// CentralPrefix is the topic tree the central publishes to one kiosk under.
func CentralPrefix(kioskID string) string { return Root + "/c/" + kioskID }

// StatusTopic carries the kiosk's retained Status (and its last will).
func StatusTopic(kioskID string) string { return KioskPrefix(kioskID) + "/status" }

// TelemetryTopic carries the kiosk's periodic Telemetry.
func TelemetryTopic(kioskID string) string { return KioskPrefix(kioskID) + "/telemetry" }

// EventTopic carries the kiosk's Events (alarms and notices).
func EventTopic(kioskID string) string { return KioskPrefix(kioskID) + "/event" }

// OfferTopic carries a packet's signed Manifest.
func OfferTopic(kioskID, packetID string) string {
	return KioskPrefix(kioskID) + "/pkt/" + packetID + "/offer"
}

// ChunkTopic carries chunk n (0-based) of a packet's ciphertext.
func ChunkTopic(kioskID, packetID string, n int) string {
	return KioskPrefix(kioskID) + "/pkt/" + packetID + "/chunk/" + strconv.Itoa(n)
}

// ProgressTopic carries the central's signed Progress for a kiosk's packets.
func ProgressTopic(kioskID string) string { return CentralPrefix(kioskID) + "/progress" }

// ReceiptTopic carries the central's signed Receipts to a kiosk.
func ReceiptTopic(kioskID string) string { return CentralPrefix(kioskID) + "/receipt" }

// CommandTopic carries the central's signed Commands to a kiosk.
func CommandTopic(kioskID string) string { return CentralPrefix(kioskID) + "/cmd" }

// Subscriptions of the central.
const (
	// PacketFilter matches every kiosk's offers and chunks.
	PacketFilter = Root + "/k/+/pkt/#"
)

// SharedFilter makes filter a shared subscription of group, so that several
// ingest processes split the messages between them.
func SharedFilter(group, filter string) string { return "$share/" + group + "/" + filter }

// PacketTopic is a parsed offer or chunk topic.
type PacketTopic struct {
	KioskID  string
	PacketID string
	// Chunk is the chunk index, or -1 for an offer.
	Chunk int
}

// ParsePacketTopic parses an offer or chunk topic.
func ParsePacketTopic(topic string) (PacketTopic, error) {
	rest, ok := strings.CutPrefix(topic, Root+"/k/")
	if !ok {
		return PacketTopic{}, ErrTopic
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 4 || parts[1] != "pkt" || !ValidID(parts[0]) || !ValidID(parts[2]) {
		return PacketTopic{}, fmt.Errorf("%w: not a packet topic", ErrTopic)
	}
	pt := PacketTopic{KioskID: parts[0], PacketID: parts[2], Chunk: -1}
	switch {
	case len(parts) == 4 && parts[3] == "offer":
		return pt, nil
	case len(parts) == 5 && parts[3] == "chunk":
		n, err := strconv.Atoi(parts[4])
		if err != nil || n < 0 || n >= MaxChunks || strconv.Itoa(n) != parts[4] {
			return PacketTopic{}, fmt.Errorf("%w: bad chunk index", ErrTopic)
		}
		pt.Chunk = n
		return pt, nil
	}
	return PacketTopic{}, fmt.Errorf("%w: not a packet topic", ErrTopic)
}

// Signed is the envelope of a signed message: the message's JSON as sent,
// and an Ed25519 signature over the domain string of its type and the body.
type Signed struct {
	Type string          `json:"type"`
	Body json.RawMessage `json:"body"`
	Sig  []byte          `json:"sig"`
}

func signedBytes(typ string, body []byte) []byte {
	b := make([]byte, 0, len(typ)+len(body)+16)
	b = append(b, "einwurf/"+Version+"/"...)
	b = append(b, typ...)
	b = append(b, '\n')
	return append(b, body...)
}

// Sign marshals v and signs it as a message of type typ.
func Sign(key ed25519.PrivateKey, typ string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("wire: marshal %s: %w", typ, err)
	}
	return json.Marshal(Signed{Type: typ, Body: body, Sig: ed25519.Sign(key, signedBytes(typ, body))})
}

// OpenSigned parses the envelope of a signed message of type typ without
// checking the signature, so the receiver can learn who claims to have sent
// it and pick the key; Verify then checks it.
func OpenSigned(data []byte, typ string) (Signed, error) {
	var s Signed
	if len(data) > MaxMessage {
		return s, fmt.Errorf("%w: %d bytes", ErrMalformed, len(data))
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if s.Type != typ {
		return s, fmt.Errorf("%w: type %q, want %q", ErrMalformed, s.Type, typ)
	}
	if len(s.Sig) != ed25519.SignatureSize {
		return s, fmt.Errorf("%w: signature length", ErrMalformed)
	}
	return s, nil
}

// Verify checks s's signature with pub and unmarshals its body into v.
func (s Signed) Verify(pub ed25519.PublicKey, v any) error {
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, signedBytes(s.Type, s.Body), s.Sig) {
		return ErrSignature
	}
	if err := json.Unmarshal(s.Body, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// Verify parses, checks and unmarshals a signed message of type typ.
func Verify(pub ed25519.PublicKey, typ string, data []byte, v any) error {
	s, err := OpenSigned(data, typ)
	if err != nil {
		return err
	}
	return s.Verify(pub, v)
}

// Message types (the domain strings of signatures).
const (
	TypeManifest = "manifest"
	TypeProgress = "progress"
	TypeReceipt  = "receipt"
	TypeCommand  = "command"
)

// Chunking of packets.
const (
	// ChunkSize is the size of every chunk but the last: 256 KiB, well
	// under common broker message limits (mosquitto's message_size_limit of
	// 1 MiB) and large enough that per-message overhead stays small.
	ChunkSize = 256 << 10
	// MaxChunkSize bounds a manifest's chunk_size: the transfer protocol
	// (docs/packet.md) uses ChunkSize, and a chunk with its hash must stay
	// under the broker's message limit (1 MiB), which drops larger ones.
	MaxChunkSize = ChunkSize
	// MaxChunks bounds a packet at 16 GiB.
	MaxChunks = 1 << 16
	// ChunkHashSize is the length of the SHA-256 of the chunk's data that
	// precedes it in the chunk message.
	ChunkHashSize = 32
)

// Manifest describes a sealed packet without saying anything about its
// content: it carries no personal data. The kiosk signs it.
type Manifest struct {
	V         int       `json:"v"`
	PacketID  string    `json:"packet_id"`
	KioskID   string    `json:"kiosk_id"`
	Created   time.Time `json:"created"`
	Size      int64     `json:"size"`       // ciphertext bytes
	SHA256    string    `json:"sha256"`     // of the ciphertext, hex
	ChunkSize int       `json:"chunk_size"` // bytes
}

// Chunks is the number of chunks the ciphertext travels in.
func (m Manifest) Chunks() int {
	if m.Size <= 0 || m.ChunkSize <= 0 {
		return 0
	}
	return int((m.Size + int64(m.ChunkSize) - 1) / int64(m.ChunkSize))
}

// ChunkLen is the length of chunk n.
func (m Manifest) ChunkLen(n int) int {
	off := int64(n) * int64(m.ChunkSize)
	if rest := m.Size - off; rest < int64(m.ChunkSize) {
		return int(rest)
	}
	return m.ChunkSize
}

// Validate checks a manifest's fields for sense.
func (m Manifest) Validate() error {
	switch {
	case m.V != 1:
		return fmt.Errorf("%w: manifest version %d", ErrMalformed, m.V)
	case !ValidID(m.PacketID) || !ValidID(m.KioskID):
		return fmt.Errorf("%w: manifest ids", ErrMalformed)
	case m.Size <= 0 || m.ChunkSize < 1024 || m.ChunkSize > MaxChunkSize:
		return fmt.Errorf("%w: manifest sizes", ErrMalformed)
	case m.Chunks() > MaxChunks:
		return fmt.Errorf("%w: manifest too large", ErrMalformed)
	case len(m.SHA256) != 64 || strings.Trim(m.SHA256, "0123456789abcdef") != "":
		return fmt.Errorf("%w: manifest hash", ErrMalformed)
	}
	return nil
}

// Progress tells a kiosk which chunks of a packet the central still misses.
type Progress struct {
	PacketID string `json:"packet_id"`
	KioskID  string `json:"kiosk_id"`
	// Missing lists the chunk indexes not yet stored, ascending. Empty with
	// Complete false means the central has not seen the offer.
	Missing  []int `json:"missing"`
	Complete bool  `json:"complete"`
}

// Receipt statuses.
const (
	ReceiptFiled    = "filed"    // filed now or before: the kiosk may delete
	ReceiptRejected = "rejected" // could not be filed; the kiosk quarantines it
)

// Receipt is the central's signed statement that it has taken a packet.
type Receipt struct {
	PacketID string    `json:"packet_id"`
	KioskID  string    `json:"kiosk_id"`
	SHA256   string    `json:"sha256"` // of the ciphertext received
	Status   string    `json:"status"`
	Reason   string    `json:"reason,omitempty"`
	Received time.Time `json:"received"`
}

// Status is a kiosk's retained state, also its last will.
type Status struct {
	KioskID string    `json:"kiosk_id"`
	Online  bool      `json:"online"`
	Version string    `json:"version,omitempty"`
	Since   time.Time `json:"since"`
}

// Telemetry is a kiosk's periodic report: counters and gauges, no personal
// data.
type Telemetry struct {
	KioskID      string    `json:"kiosk_id"`
	Time         time.Time `json:"time"`
	Model        string    `json:"model,omitempty"`
	Serial       string    `json:"serial,omitempty"`
	SpoolEntries int       `json:"spool_entries"`
	SpoolBytes   int64     `json:"spool_bytes"`
	DiskFree     int64     `json:"disk_free"`
	DiskState    string    `json:"disk_state"` // ok, warning, alarm
	Quarantined  int       `json:"quarantined"`
	Sent         int64     `json:"sent"`
	Visits       int64     `json:"visits"`
	Pages        int64     `json:"pages"`
	TempMilliC   int       `json:"temp_milli_c,omitempty"`
	Scanner      string    `json:"scanner,omitempty"`
	// Oldest is when the oldest document still waiting in the spool was
	// accepted (zero: none waiting); LastDelivery when the central's last
	// receipt arrived.
	Oldest       time.Time `json:"oldest,omitzero"`
	LastDelivery time.Time `json:"last_delivery,omitzero"`
	// Printer and Reader are the receipt printer's and barcode reader's
	// states (ok, offline, fault, ...).
	Printer string `json:"printer,omitempty"`
	Reader  string `json:"reader,omitempty"`
	// Consumables are states of what runs out, e.g. "paper": "ok", "low",
	// "empty".
	Consumables map[string]string `json:"consumables,omitempty"`
	// OutOfService is the reason key while the kiosk was taken out of
	// service by a command, else empty.
	OutOfService string `json:"out_of_service,omitempty"`
	// Counters are the kiosk's persistent counters (pages, sheets, jams,
	// double-feeds, visits, receipts) and its wear parts' pages since they
	// were changed ("feed-roller.since", ...).
	Counters map[string]int64 `json:"counters,omitempty"`
}

// Severities of events.
const (
	SeverityInfo  = "info"
	SeverityAlarm = "alarm"
)

// Event is an alarm or notice from a kiosk.
type Event struct {
	KioskID  string    `json:"kiosk_id"`
	Time     time.Time `json:"time"`
	Severity string    `json:"severity"`
	Code     string    `json:"code"` // e.g. spool.quarantine, disk.full, tamper
	Detail   string    `json:"detail,omitempty"`
}

// Command is an instruction from the central, signed, with a sequence
// number the kiosk requires to grow and an expiry.
type Command struct {
	KioskID string            `json:"kiosk_id"`
	Seq     uint64            `json:"seq"`
	Expires time.Time         `json:"expires"`
	Kind    string            `json:"kind"`
	Args    map[string]string `json:"args,omitempty"`
}

// Check verifies a command is for kioskID, not expired at now, and newer
// than lastSeq.
func (c Command) Check(kioskID string, lastSeq uint64, now time.Time) error {
	switch {
	case c.KioskID != kioskID:
		return fmt.Errorf("%w: command for another kiosk", ErrMalformed)
	case !now.Before(c.Expires):
		return ErrExpired
	case c.Seq <= lastSeq:
		return fmt.Errorf("%w: command sequence %d not after %d", ErrMalformed, c.Seq, lastSeq)
	}
	return nil
}
