// Package ingest is the central's receiving side: it reassembles a kiosk's
// chunked packet, verifies the kiosk's signature and the ciphertext's hash,
// decrypts it, files the PDF into the inbox of the right team and case, and
// answers with a signed receipt.
//
// Ingest is idempotent on (kiosk id, packet id): a packet filed once is
// never filed again, whatever is redelivered, across restarts and across
// several ingest processes (a shared MQTT subscription splits messages
// between them). The ledger (Config.Ledger, central/store: SQLite for one
// process, PostgreSQL shared by several on several machines) holds each
// packet's signed receipt; a claim with a lease in it serialises the filing
// of one packet, and a process killed mid-filing leaves a claim another
// process takes over when the lease ends.
//
// State folder, for chunks in flight only (ids only, no personal data;
// shared by the processes, e.g. over NFS, since one packet's chunks may
// reach several of them):
//
//	<kiosk>/<packet>/manifest      the verified signed manifest
//	<kiosk>/<packet>/chunk-<n>     received chunks
//
// A packet's folder is removed once its receipt is in the ledger.
//
// Inbox: <team>/<number>/<date>_<packet>.pdf and a .json sidecar. The team
// comes from the number itself (wire.CheckNumber), never from what the
// kiosk says it is.
//
// Only a verdict about the packet itself rejects it (a signed "rejected"
// receipt, after which the kiosk quarantines it): a ciphertext that does
// not match its signed manifest, one that does not decrypt, a payload that
// is malformed or names other ids, a manifest older than the replay
// horizon. A fault of the central's own storage (read-only or full inbox,
// no descriptors left, an I/O error) is ErrStorage: no receipt, the chunks
// stay, Config.OnFault is told, and the kiosk's next offer files it.
//
// Replays: the ledger proves a packet was filed. Its records may be
// forgotten (Forget: those received before ReplayHorizon plus MaxClockSkew),
// because a manifest created before the horizon is refused (ErrExpired) and
// one dated further ahead than MaxClockSkew waits (ErrClock), so a replay of
// a forgotten packet can never be filed again.
package ingest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/sqlite"
	"github.com/einwurf/einwurf/wire"
	"github.com/einwurf/einwurf/wire/packet"
)

// Reasons a packet is rejected.
var (
	ErrUnknownKiosk = errors.New("ingest: unknown kiosk")
	ErrSignature    = errors.New("ingest: bad manifest signature")
	ErrManifest     = errors.New("ingest: bad manifest")
	ErrChunk        = errors.New("ingest: bad chunk")
	ErrNoOffer      = errors.New("ingest: chunk for a packet not offered")
	ErrCiphertext   = errors.New("ingest: ciphertext does not match manifest")
	ErrPayload      = errors.New("ingest: payload rejected")
	// ErrExpired rejects a manifest created before the replay horizon.
	ErrExpired = errors.New("ingest: manifest older than the replay horizon")
)

// Faults that are not verdicts: no receipt, the kiosk offers again.
var (
	// ErrStorage marks a fault of the central's own storage.
	ErrStorage = errors.New("ingest: central storage fault")
	// ErrClock marks a manifest dated further in the future than
	// MaxClockSkew: the kiosk's clock is wrong; it is asked again later.
	ErrClock = errors.New("ingest: manifest dated in the future")
)

// Defaults of the replay bound (see the package comment and
// docs/operations.md: the state folder may be cleaned of packets whose
// receipt is older than DefaultReplayHorizon + DefaultMaxClockSkew).
const (
	DefaultReplayHorizon = 80 * 24 * time.Hour
	DefaultMaxClockSkew  = 24 * time.Hour
	// DefaultLease is how long a claim to file a packet holds: far longer
	// than filing takes, so a live process never loses it; a killed one's
	// packet is filed by another process this long after.
	DefaultLease = 2 * time.Minute
)

// dbTimeout bounds one ledger operation.
const dbTimeout = 30 * time.Second

// storage marks err as a fault of the central's own storage.
func storage(err error) error { return fmt.Errorf("%w: %w", ErrStorage, err) }

// verdict says whether err is a finding about the packet itself, which
// rejects it for good; anything else is retried.
func verdict(err error) bool {
	var bad *badChunkError
	if errors.Is(err, ErrStorage) || errors.As(err, &bad) {
		return false
	}
	for _, v := range []error{ErrCiphertext, ErrPayload, ErrExpired, packet.ErrDecrypt, packet.ErrFormat, packet.ErrPDFHash} {
		if errors.Is(err, v) {
			return true
		}
	}
	return false
}

// Registry looks up an enrolled kiosk's public key.
type Registry interface {
	Lookup(kioskID string) (ed25519.PublicKey, error)
}

// Config configures an Ingest.
type Config struct {
	StateDir string
	InboxDir string
	Identity age.Identity
	SignKey  ed25519.PrivateKey
	Kiosks   Registry
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// OnFiled is called after a packet was filed (not for a duplicate).
	OnFiled func(Filed)
	// OnFault is told of a packet that could not be filed because of the
	// central's own trouble (err wraps ErrStorage); it is retried when the
	// kiosk offers again. Raise an alarm here (ids only). May be nil.
	OnFault func(kioskID, packetID string, err error)
	// ReplayHorizon: manifests created longer ago are refused
	// (default DefaultReplayHorizon). MaxClockSkew: manifests dated
	// further ahead wait (default DefaultMaxClockSkew).
	ReplayHorizon, MaxClockSkew time.Duration
	// Logger receives ids and reasons only; nil uses slog.Default().
	Logger *slog.Logger
	// Ledger records which packets were filed and their receipts, and
	// holds the claims that make filing exactly-once across processes.
	// Share one PostgreSQL store between processes on several machines;
	// nil opens a SQLite ledger (ledger.db) in StateDir, for one process.
	Ledger store.Ledger
	// Owner names this process in the ledger's claims; it must differ
	// between processes and should stay the same across a process's
	// restarts, so a restarted process takes its own claims back at once
	// instead of after their lease. Default: the MQTT client id when Run
	// runs it, else host name, process id and a random part. Lease is how
	// long a claim holds (default DefaultLease).
	Owner string
	Lease time.Duration
}

// Filed describes a filed document.
type Filed struct {
	PDF      string
	Sidecar  string
	KioskID  string
	PacketID string
	// Team is the inbox the number routed to; Pages the page count.
	Team  string
	Pages int
}

// Sidecar is the JSON written next to each filed PDF.
type Sidecar struct {
	PacketID string    `json:"packet_id"`
	KioskID  string    `json:"kiosk_id"`
	Number   string    `json:"number"`
	Kind     string    `json:"kind"`
	Team     string    `json:"team"`
	Scanned  time.Time `json:"scanned"`
	Received time.Time `json:"received"`
	Pages    int       `json:"pages"`
	SHA256   string    `json:"sha256"`
	Size     int64     `json:"size"`
	Manifest string    `json:"manifest_sha256"`
	PDF      string    `json:"pdf"`
}

// Reply is a message Ingest wants published.
type Reply struct {
	Topic   string
	Payload []byte
}

// Ingest handles offers and chunks. Its methods are safe for concurrent use.
type Ingest struct {
	cfg   Config
	locks sync.Map    // packet dir → *sync.Mutex (within one process; the ledger's claim across)
	own   store.Store // the ledger New opened, closed by Close
	// defaultOwner is set when Config.Owner was not given: Run names the
	// claims after its client id.
	defaultOwner bool
	// beforeRecord, when set (tests), runs after a packet was filed into
	// the inbox and before its record goes into the ledger: the moment a
	// process killed mid-filing leaves behind.
	beforeRecord func(kioskID, packetID string)
}

// New returns an Ingest.
func New(cfg Config) (*Ingest, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReplayHorizon <= 0 {
		cfg.ReplayHorizon = DefaultReplayHorizon
	}
	if cfg.MaxClockSkew <= 0 {
		cfg.MaxClockSkew = DefaultMaxClockSkew
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	defaultOwner := cfg.Owner == ""
	if defaultOwner {
		host, _ := os.Hostname()
		cfg.Owner = fmt.Sprintf("%s-%d-%x", host, os.Getpid(), time.Now().UnixNano()&0xffffff)
	}
	for _, d := range []string{cfg.StateDir, cfg.InboxDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
	}
	in := &Ingest{cfg: cfg, defaultOwner: defaultOwner}
	if cfg.Ledger == nil {
		ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		defer cancel()
		// Leases by the host's clock, not Config.Now: processes sharing
		// the file share that clock.
		st, err := sqlite.Open(ctx, filepath.Join(cfg.StateDir, "ledger.db"), sqlite.Options{})
		if err != nil {
			return nil, fmt.Errorf("ingest: ledger: %w", err)
		}
		in.own, in.cfg.Ledger = st, st
	}
	if err := in.importReceipts(); err != nil {
		in.Close()
		return nil, err
	}
	return in, nil
}

// importReceipts moves the receipt files an earlier version kept in the
// state folder (<kiosk>/<packet>/receipt) into the ledger, so a packet
// filed before the upgrade is never filed again, and removes the packet's
// folder. A receipt that is not ours (bad signature) is left where it is.
func (in *Ingest) importReceipts() error {
	found, _ := filepath.Glob(filepath.Join(in.cfg.StateDir, "*", "*", "receipt"))
	pub := in.cfg.SignKey.Public().(ed25519.PublicKey)
	for _, path := range found {
		b, err := os.ReadFile(path)
		if err != nil {
			return storage(err)
		}
		var r wire.Receipt
		if err := wire.Verify(pub, wire.TypeReceipt, b, &r); err != nil || !wire.ValidID(r.KioskID) || !wire.ValidID(r.PacketID) {
			in.cfg.Logger.Warn("ingest: an old receipt file is not the central's; left alone", "path", filepath.Base(filepath.Dir(path)))
			continue
		}
		m := wire.Manifest{KioskID: r.KioskID, PacketID: r.PacketID}
		if err := in.record(m, filepath.Dir(path), r, b, Filed{}); err != nil {
			return err
		}
	}
	if len(found) > 0 {
		in.cfg.Logger.Info("ingest: receipts of the state folder moved into the ledger", "count", len(found))
	}
	return nil
}

// Close closes the ledger New opened (none when Config.Ledger was given).
func (in *Ingest) Close() error {
	if in.own != nil {
		return in.own.Close()
	}
	return nil
}

// Forget removes what proves a packet was filed once no manifest can reach
// it any more: ledger records received before ReplayHorizon plus
// MaxClockSkew, and packet folders in StateDir untouched for as long
// (transfers a kiosk gave up). Run it daily; it returns how many ledger
// records went.
func (in *Ingest) Forget(ctx context.Context) (int64, error) {
	before := in.cfg.Now().Add(-in.cfg.ReplayHorizon - in.cfg.MaxClockSkew)
	n, err := in.cfg.Ledger.Forget(ctx, before)
	if err != nil {
		return 0, storage(err)
	}
	kiosks, _ := os.ReadDir(in.cfg.StateDir)
	for _, k := range kiosks {
		if !k.IsDir() {
			continue
		}
		pkts, _ := os.ReadDir(filepath.Join(in.cfg.StateDir, k.Name()))
		for _, p := range pkts {
			if fi, err := p.Info(); err == nil && p.IsDir() && fi.ModTime().Before(before) {
				os.RemoveAll(filepath.Join(in.cfg.StateDir, k.Name(), p.Name()))
			}
		}
	}
	return n, nil
}

// lookup returns the ledger's record of a packet, nil when there is none.
func (in *Ingest) lookup(kioskID, packetID string) (*store.FiledPacket, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	rec, err := in.cfg.Ledger.Lookup(ctx, kioskID, packetID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, storage(fmt.Errorf("ledger: %w", err))
	}
	return &rec, nil
}

// record puts a packet's final answer into the ledger and removes its
// folder of chunks.
func (in *Ingest) record(m wire.Manifest, dir string, r wire.Receipt, signed []byte, f Filed) error {
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	if err := in.cfg.Ledger.Record(ctx, store.FiledPacket{KioskID: m.KioskID, PacketID: m.PacketID, Status: r.Status,
		Receipt: signed, ReceiptCode: wire.ReceiptCode(m.PacketID), Team: f.Team, Pages: f.Pages, Created: m.Created, Received: r.Received}); err != nil {
		return storage(fmt.Errorf("ledger: %w", err))
	}
	in.removePacketDir(dir)
	return nil
}

// removePacketDir removes a recorded packet's folder (and its kiosk's
// folder when that is left empty).
func (in *Ingest) removePacketDir(dir string) {
	os.RemoveAll(dir)
	os.Remove(filepath.Dir(dir))
}

// Handle processes one message from topic and returns the replies to send.
// A rejected message is logged with its reason (ids only) and returns an
// error too, for tests and metrics.
func (in *Ingest) Handle(topic string, payload []byte) ([]Reply, error) {
	pt, err := wire.ParsePacketTopic(topic)
	if err != nil {
		return nil, err
	}
	var replies []Reply
	if pt.Chunk < 0 {
		replies, err = in.offer(pt, payload)
	} else {
		replies, err = in.chunk(pt, payload)
	}
	if err != nil {
		in.cfg.Logger.Warn("ingest: message rejected", "kiosk", pt.KioskID, "packet", pt.PacketID, "chunk", pt.Chunk, "reason", err.Error())
	}
	return replies, err
}

func (in *Ingest) packetDir(kioskID, packetID string) string {
	return filepath.Join(in.cfg.StateDir, kioskID, packetID)
}

// offer verifies a manifest and answers with a receipt (if the packet is
// done) or the progress (which chunks are missing).
func (in *Ingest) offer(pt wire.PacketTopic, payload []byte) ([]Reply, error) {
	pub, err := in.cfg.Kiosks.Lookup(pt.KioskID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnknownKiosk, err)
	}
	var m wire.Manifest
	if err := wire.Verify(pub, wire.TypeManifest, payload, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if m.KioskID != pt.KioskID || m.PacketID != pt.PacketID {
		// Signed by the kiosk it names, but sent under another kiosk's or
		// packet's topic.
		return nil, fmt.Errorf("%w: manifest ids differ from topic", ErrManifest)
	}
	dir := in.packetDir(m.KioskID, m.PacketID)
	if rec, err := in.lookup(m.KioskID, m.PacketID); err != nil {
		return nil, in.fault(m, err)
	} else if rec != nil {
		// Chunks left by a process killed between record and clean-up.
		in.removePacketDir(dir)
		return []Reply{{wire.ReceiptTopic(m.KioskID), rec.Receipt}}, nil
	}
	now := in.cfg.Now()
	if m.Created.After(now.Add(in.cfg.MaxClockSkew)) {
		return nil, fmt.Errorf("%w: created %s", ErrClock, m.Created.UTC().Format(time.RFC3339))
	}
	if m.Created.Before(now.Add(-in.cfg.ReplayHorizon)) {
		// Its state may have been cleaned up: whether it was filed
		// cannot be known, so it is refused, never filed twice.
		return in.reject(m, dir, ErrExpired)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, in.fault(m, storage(err))
	}
	old, err := os.ReadFile(filepath.Join(dir, "manifest"))
	if err == nil && !bytes.Equal(old, payload) {
		var prev wire.Manifest
		if wire.Verify(pub, wire.TypeManifest, old, &prev) == nil && prev != m {
			return nil, fmt.Errorf("%w: a different manifest for this packet exists", ErrManifest)
		}
		// Our own copy is damaged (or an equal manifest signed anew): the
		// verified one just offered replaces it.
		err = os.ErrNotExist
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, in.fault(m, storage(err))
	}
	if err != nil {
		if err := writeAtomic(filepath.Join(dir, "manifest"), payload); err != nil {
			return nil, in.fault(m, err)
		}
	}
	return in.progressOrFile(m, dir)
}

// fault reports a fault of the central's own storage for m and returns it.
func (in *Ingest) fault(m wire.Manifest, err error) error {
	in.cfg.Logger.Error("ingest: storage fault, packet kept for a retry", "kiosk", m.KioskID, "packet", m.PacketID, "err", err.Error())
	if in.cfg.OnFault != nil {
		in.cfg.OnFault(m.KioskID, m.PacketID, err)
	}
	return err
}

// reject answers m with a signed "rejected" receipt for verdict v, kept in
// the state folder like any receipt.
func (in *Ingest) reject(m wire.Manifest, dir string, v error) ([]Reply, error) {
	in.cfg.Logger.Warn("ingest: packet rejected", "kiosk", m.KioskID, "packet", m.PacketID, "reason", v.Error())
	receipt := wire.Receipt{PacketID: m.PacketID, KioskID: m.KioskID, SHA256: m.SHA256,
		Status: wire.ReceiptRejected, Reason: reasonCode(v), Received: in.cfg.Now().UTC()}
	signed, err := wire.Sign(in.cfg.SignKey, wire.TypeReceipt, receipt)
	if err != nil {
		return nil, err
	}
	if err := in.record(m, dir, receipt, signed, Filed{}); err != nil {
		return nil, in.fault(m, err)
	}
	return []Reply{{wire.ReceiptTopic(m.KioskID), signed}}, nil
}

func (in *Ingest) loadManifest(dir string, kioskID string) (wire.Manifest, error) {
	var m wire.Manifest
	b, err := os.ReadFile(filepath.Join(dir, "manifest"))
	if err != nil {
		return m, ErrNoOffer
	}
	pub, err := in.cfg.Kiosks.Lookup(kioskID)
	if err != nil {
		return m, fmt.Errorf("%w: %v", ErrUnknownKiosk, err)
	}
	if err := wire.Verify(pub, wire.TypeManifest, b, &m); err != nil {
		return m, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return m, nil
}

// chunk stores one chunk after checking it against the manifest.
func (in *Ingest) chunk(pt wire.PacketTopic, payload []byte) ([]Reply, error) {
	dir := in.packetDir(pt.KioskID, pt.PacketID)
	if rec, err := in.lookup(pt.KioskID, pt.PacketID); err != nil {
		return nil, in.fault(wire.Manifest{KioskID: pt.KioskID, PacketID: pt.PacketID}, err)
	} else if rec != nil {
		if pt.Chunk == 0 {
			// A whole resend of a filed packet: remind the kiosk once.
			return []Reply{{wire.ReceiptTopic(pt.KioskID), rec.Receipt}}, nil
		}
		return nil, nil
	}
	m, err := in.loadManifest(dir, pt.KioskID)
	if err != nil {
		return nil, err
	}
	if pt.Chunk >= m.Chunks() {
		return nil, fmt.Errorf("%w: index %d of %d", ErrChunk, pt.Chunk, m.Chunks())
	}
	if len(payload) != wire.ChunkHashSize+m.ChunkLen(pt.Chunk) {
		return nil, fmt.Errorf("%w: length %d", ErrChunk, len(payload))
	}
	data := payload[wire.ChunkHashSize:]
	if sum := sha256.Sum256(data); !bytes.Equal(sum[:], payload[:wire.ChunkHashSize]) {
		return nil, fmt.Errorf("%w: hash", ErrChunk)
	}
	name := filepath.Join(dir, "chunk-"+strconv.Itoa(pt.Chunk))
	if _, err := os.Stat(name); err != nil {
		// Stored with its hash and without fsync: a chunk is only a
		// transient copy (the kiosk keeps the packet until the receipt),
		// and one damaged by a crash is found when the packet is filed
		// and asked for again. The fsyncs go to what the receipt promises.
		if err := writeNoSync(name, payload); err != nil {
			if rec, lerr := in.lookup(m.KioskID, m.PacketID); lerr == nil && rec != nil {
				return nil, nil // filed meanwhile by another process, which removed the folder
			}
			return nil, in.fault(m, err)
		}
	}
	missing, err := in.missing(dir, m)
	if err != nil || len(missing) > 0 {
		return nil, err
	}
	return in.progressOrFile(m, dir)
}

func (in *Ingest) missing(dir string, m wire.Manifest) ([]int, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, storage(err)
	}
	have := make([]bool, m.Chunks())
	for _, de := range des {
		if s, ok := strings.CutPrefix(de.Name(), "chunk-"); ok {
			if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < len(have) {
				have[n] = true
			}
		}
	}
	missing := []int{}
	for n, h := range have {
		if !h {
			missing = append(missing, n)
		}
	}
	return missing, nil
}

func (in *Ingest) progressOrFile(m wire.Manifest, dir string) ([]Reply, error) {
	missing, err := in.missing(dir, m)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		p, err := wire.Sign(in.cfg.SignKey, wire.TypeProgress,
			wire.Progress{PacketID: m.PacketID, KioskID: m.KioskID, Missing: missing})
		if err != nil {
			return nil, err
		}
		return []Reply{{wire.ProgressTopic(m.KioskID), p}}, nil
	}
	r, err := in.finish(m, dir)
	if errors.Is(err, errBusy) {
		// Another process is filing it: its receipt answers the kiosk (or,
		// should that process die, the kiosk's next offer after its lease).
		in.cfg.Logger.Debug("ingest: packet being filed by another process", "kiosk", m.KioskID, "packet", m.PacketID)
		return nil, nil
	}
	if err != nil && errors.Is(err, ErrStorage) {
		return nil, in.fault(m, err)
	}
	var bad *badChunkError
	if errors.As(err, &bad) {
		// A stored chunk was damaged (a crash of this machine): drop it
		// and ask the kiosk for it again.
		in.cfg.Logger.Warn("ingest: stored chunk damaged, asking again", "kiosk", m.KioskID, "packet", m.PacketID, "chunk", bad.n)
		os.Remove(filepath.Join(dir, "chunk-"+strconv.Itoa(bad.n)))
		return in.progressOrFile(m, dir)
	}
	if err != nil {
		return nil, err
	}
	return []Reply{{wire.ReceiptTopic(m.KioskID), r}}, nil
}

// errBusy says another process holds the claim to file a packet.
var errBusy = errors.New("ingest: packet being filed by another process")

// finish files a complete packet once, under the ledger's claim, and
// returns the signed receipt.
func (in *Ingest) finish(m wire.Manifest, dir string) ([]byte, error) {
	mu, _ := in.locks.LoadOrStore(dir, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	rec, err := in.cfg.Ledger.Claim(ctx, m.KioskID, m.PacketID, in.cfg.Owner, in.cfg.Lease)
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil, errBusy
	case err != nil:
		return nil, storage(fmt.Errorf("ledger: %w", err)) // cannot tell whether it was filed
	case rec != nil:
		in.removePacketDir(dir)
		return rec.Receipt, nil // filed by another process meanwhile
	}
	release := func() {
		ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		defer cancel()
		in.cfg.Ledger.Release(ctx, m.KioskID, m.PacketID, in.cfg.Owner)
	}
	receipt := wire.Receipt{PacketID: m.PacketID, KioskID: m.KioskID, SHA256: m.SHA256,
		Status: wire.ReceiptFiled, Received: in.cfg.Now().UTC()}
	filed, ferr := in.file(m, dir, receipt.Received)
	if ferr != nil {
		if !verdict(ferr) {
			// Our own trouble, not the packet's: keep the chunks, no
			// receipt; the kiosk will offer again.
			release()
			var bad *badChunkError
			if !errors.As(ferr, &bad) && !errors.Is(ferr, ErrStorage) {
				ferr = storage(ferr)
			}
			return nil, ferr
		}
		in.cfg.Logger.Warn("ingest: packet rejected", "kiosk", m.KioskID, "packet", m.PacketID, "reason", ferr.Error())
		receipt.Status, receipt.Reason = wire.ReceiptRejected, reasonCode(ferr)
	}
	signed, err := wire.Sign(in.cfg.SignKey, wire.TypeReceipt, receipt)
	if err != nil {
		release()
		return nil, err
	}
	if in.beforeRecord != nil {
		in.beforeRecord(m.KioskID, m.PacketID)
	}
	if err := in.record(m, dir, receipt, signed, filed); err != nil {
		if ferr == nil {
			// Filed, but the proof is not kept: take the PDF back so
			// that the retry files it exactly once.
			os.Remove(filed.PDF)
			os.Remove(filed.Sidecar)
		}
		release()
		return nil, err
	}
	if ferr == nil {
		in.cfg.Logger.Info("ingest: packet filed", "kiosk", m.KioskID, "packet", m.PacketID)
		if in.cfg.OnFiled != nil {
			in.cfg.OnFiled(filed)
		}
	}
	return signed, nil
}

func reasonCode(err error) string {
	switch {
	case errors.Is(err, ErrCiphertext):
		return "ciphertext"
	case errors.Is(err, packet.ErrDecrypt):
		return "decrypt"
	case errors.Is(err, ErrExpired):
		return "expired"
	default:
		return "payload"
	}
}

// badChunkError reports a stored chunk that does not match its own hash
// or length: damaged on the central's disk, not sent wrong by the kiosk.
type badChunkError struct{ n int }

func (e *badChunkError) Error() string { return fmt.Sprintf("ingest: stored chunk %d damaged", e.n) }

// chunkReader streams the stored chunks' data in order, checking each
// against the hash stored with it. It holds one chunk in memory.
type chunkReader struct {
	dir  string
	m    wire.Manifest
	next int
	buf  []byte
	rest []byte
	// fault is the reader's own failure (a damaged chunk, a storage
	// fault), kept because the decryption above reports it as its own.
	fault error
}

func newChunkReader(dir string, m wire.Manifest) *chunkReader {
	return &chunkReader{dir: dir, m: m}
}

func (c *chunkReader) Read(b []byte) (int, error) {
	if c.fault != nil {
		return 0, c.fault
	}
	n, err := c.read(b)
	if err != nil && err != io.EOF {
		c.fault = err
	}
	return n, err
}

func (c *chunkReader) read(b []byte) (int, error) {
	for len(c.rest) == 0 {
		if c.next >= c.m.Chunks() {
			return 0, io.EOF
		}
		n := c.next
		want := wire.ChunkHashSize + c.m.ChunkLen(n)
		if cap(c.buf) < want {
			c.buf = make([]byte, wire.ChunkHashSize+c.m.ChunkSize)
		}
		f, err := os.Open(filepath.Join(c.dir, "chunk-"+strconv.Itoa(n)))
		if errors.Is(err, os.ErrNotExist) {
			return 0, &badChunkError{n}
		}
		if err != nil {
			return 0, storage(fmt.Errorf("read chunk: %w", err))
		}
		got, err := io.ReadFull(f, c.buf[:want])
		extra, _ := f.Read(make([]byte, 1))
		f.Close()
		if err != nil || got != want || extra != 0 {
			return 0, &badChunkError{n}
		}
		if sum := sha256.Sum256(c.buf[wire.ChunkHashSize:want]); !bytes.Equal(sum[:], c.buf[:wire.ChunkHashSize]) {
			return 0, &badChunkError{n}
		}
		c.rest = c.buf[wire.ChunkHashSize:want]
		c.next++
	}
	k := copy(b, c.rest)
	c.rest = c.rest[k:]
	return k, nil
}

// file decrypts the stored ciphertext and files the PDF, in one pass that
// also checks the ciphertext against the manifest's size and hash before
// anything appears in the inbox.
func (in *Ingest) file(m wire.Manifest, dir string, received time.Time) (Filed, error) {
	h := sha256.New()
	cr := newChunkReader(dir, m)
	tee := io.TeeReader(cr, h)
	checkCiphertext := func() error {
		// Hash what the decryption left unread, then compare.
		if _, err := io.Copy(io.Discard, tee); err != nil {
			return err
		}
		if cr.next != m.Chunks() || hex.EncodeToString(h.Sum(nil)) != m.SHA256 {
			return ErrCiphertext
		}
		return nil
	}
	meta, pdf, err := packet.Open(tee, in.cfg.Identity)
	if err != nil {
		if cr.fault != nil {
			return Filed{}, cr.fault
		}
		if cerr := checkCiphertext(); cerr != nil {
			return Filed{}, cerr
		}
		return Filed{}, err
	}
	if meta.PacketID != m.PacketID || meta.KioskID != m.KioskID {
		return Filed{}, fmt.Errorf("%w: inner ids differ from manifest", ErrPayload)
	}
	// Route by the number itself, never by the team the kiosk names.
	num, err := wire.CheckNumber(meta.Number)
	if err != nil {
		return Filed{}, fmt.Errorf("%w: %w", ErrPayload, err)
	}
	if meta.Team != num.Team || meta.Kind != num.Kind {
		in.cfg.Logger.Warn("ingest: the kiosk's team or kind differs from its number's; routed by the number",
			"kiosk", m.KioskID, "packet", m.PacketID, "team", num.Team)
	}
	team, number := num.Team, num.Norm
	caseDir := filepath.Join(in.cfg.InboxDir, team, number)
	if err := os.MkdirAll(caseDir, 0o750); err != nil {
		return Filed{}, storage(err)
	}
	base := meta.Scanned.UTC().Format("2006-01-02T150405Z") + "_" + m.PacketID
	pdfPath := filepath.Join(caseDir, base+".pdf")
	sidecar := filepath.Join(caseDir, base+".json")
	removeStale(pdfPath)
	removeStale(sidecar)
	if err := writeStreamAtomicCheck(pdfPath, pdf, checkCiphertext); err != nil {
		if cr.fault != nil {
			return Filed{}, cr.fault
		}
		return Filed{}, err
	}
	mh := sha256.Sum256([]byte(m.SHA256))
	sc := Sidecar{PacketID: m.PacketID, KioskID: m.KioskID, Number: num.Norm, Kind: num.Kind,
		Team: num.Team, Scanned: meta.Scanned, Received: received, Pages: meta.Pages,
		SHA256: meta.PDFSHA256, Size: meta.PDFSize, Manifest: hex.EncodeToString(mh[:]), PDF: base + ".pdf"}
	sj, _ := json.MarshalIndent(sc, "", "  ")
	if err := writeAtomic(sidecar, append(sj, '\n')); err != nil {
		os.Remove(pdfPath)
		return Filed{}, err
	}
	return Filed{PDF: pdfPath, Sidecar: sidecar, KioskID: m.KioskID, PacketID: m.PacketID, Team: num.Team, Pages: meta.Pages}, nil
}

func writeAtomic(path string, data []byte) error {
	return writeStreamAtomic(path, bytes.NewReader(data))
}

// tmpPrefix names the temporary files of path after it, so that the
// leftovers of a process killed while writing path can be found and removed
// (removeStale) by whoever writes path next, under the packet's lock.
func tmpPrefix(path string) string { return ".tmp-" + filepath.Base(path) + "-" }

// removeStale removes temporary files a killed process left for path.
func removeStale(path string) {
	old, _ := filepath.Glob(filepath.Join(filepath.Dir(path), tmpPrefix(path)+"*"))
	for _, o := range old {
		os.Remove(o)
	}
}

// writeNoSync writes path through a temporary file and a rename, without
// fsync: for data that may be lost in a crash (and is checked when used).
func writeNoSync(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), tmpPrefix(path)+"*")
	if err != nil {
		return storage(err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return storage(err)
	}
	if err := f.Close(); err != nil {
		return storage(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return storage(err)
	}
	return nil
}

// writeStreamAtomic streams r to path: temp → fsync → rename → fsync dir.
// If r fails (a hash mismatch at the end of a PDF), nothing is left.
func writeStreamAtomic(path string, r io.Reader) error {
	return writeStreamAtomicCheck(path, r, nil)
}

// writeStreamAtomicCheck is writeStreamAtomic with a last check, run after
// r is copied and before the file is renamed into place; if it fails,
// nothing is left.
func writeStreamAtomicCheck(path string, r io.Reader, check func() error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tmpPrefix(path)+"*")
	if err != nil {
		return storage(err)
	}
	defer os.Remove(f.Name())
	// Tell a failing read (the packet) from a failing write (our disk).
	sr := &sourceReader{r: r}
	if _, err := io.Copy(f, sr); err != nil {
		f.Close()
		var bad *badChunkError
		switch {
		case errors.As(err, &bad) || errors.Is(err, ErrStorage):
			return err
		case sr.err != nil:
			return fmt.Errorf("%w: %w", ErrPayload, err)
		}
		return storage(err)
	}
	if check != nil {
		if err := check(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return storage(err)
	}
	if err := f.Close(); err != nil {
		return storage(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return storage(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return storage(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return storage(err)
	}
	return nil
}

// sourceReader remembers whether reading failed.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}
