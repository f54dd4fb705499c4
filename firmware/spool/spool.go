// Package spool is the kiosk's durable outbox. A document the customer was
// told is accepted is here, fsync'd, as ciphertext with its signed manifest;
// it leaves only when the central's signed receipt removes it.
//
// Layout under the spool folder (file names carry packet ids only):
//
//	tmp/                  payloads being written; cleared on Open
//	<packet>.age          the ciphertext
//	<packet>.manifest     the signed manifest; written last, so its presence
//	                      marks a complete entry
//	quarantine/           entries that failed a check, kept for staff
//
// Every write is temp → fsync → rename → fsync of the folder.
package spool

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/einwurf/einwurf/internal/atomicfile"

	"github.com/einwurf/einwurf/wire"
)

// Errors of the spool.
var (
	ErrNotFound = errors.New("spool: no such entry")
	ErrFull     = errors.New("spool: disk budget exhausted")
	// ErrCorrupt marks an entry proven corrupt (it does not parse, does not
	// match its payload, or its payload is gone): it is quarantined.
	ErrCorrupt = errors.New("spool: corrupt entry")
	// ErrUnreadable marks entries that could not be read just now (a fault
	// of the file system, not of the entry): they stay and are tried
	// again.
	ErrUnreadable = errors.New("spool: entries unreadable for now")
)

// Disk states reported in telemetry.
const (
	DiskOK      = "ok"
	DiskWarning = "warning"
	DiskAlarm   = "alarm"
)

// Options set the disk budget.
type Options struct {
	// MaxBytes caps the spool's payload bytes (0: no cap).
	MaxBytes int64
	// WarnFree and AlarmFree are free-space thresholds of the file system
	// in bytes: under WarnFree the state is "warning", under AlarmFree
	// "alarm" and the kiosk accepts no new documents.
	WarnFree, AlarmFree int64
	// Statfs reports free bytes of the file system holding dir; nil uses
	// statfs(2). Tests set it to simulate a full disk.
	Statfs func(dir string) (free int64, err error)
	// Alarm is called when an entry is quarantined (with a reason that
	// carries no personal data). May be nil.
	Alarm func(code, detail string)
	// Logger receives packet ids and reasons (never content); nil uses
	// slog.Default().
	Logger *slog.Logger
}

// Entry is one complete spooled packet.
type Entry struct {
	Manifest wire.Manifest
	// Signed is the signed manifest as it is sent.
	Signed []byte
}

// Usage is the spool's share of the disk.
type Usage struct {
	Entries     int
	Bytes       int64
	Free        int64
	State       string
	Quarantined int
}

// Spool is a durable outbox in one folder. Its methods are safe for
// concurrent use.
type Spool struct {
	dir string
	opt Options
	mu  sync.Mutex

	// recent is the last Usage with the time it was taken (RecentUsage);
	// nil after any change the spool makes itself.
	recentMu sync.Mutex
	recent   *recentUsage
}

// recentUsage is a Usage and when it was taken.
type recentUsage struct {
	u  Usage
	at time.Time
}

// RecentUsageAge is how old a usage RecentUsage may answer with: what it
// can miss is only what others write to the disk (the spool's own entries
// are counted again after each change).
const RecentUsageAge = time.Second

// Open opens (creating if needed) the spool in dir and recovers it: it
// clears half-written payloads and quarantines entries that are incomplete
// or whose manifest does not parse or does not match its payload's size.
func Open(dir string, opt Options) (*Spool, error) {
	for _, d := range []string{dir, filepath.Join(dir, "tmp"), filepath.Join(dir, "quarantine")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	if opt.Statfs == nil {
		opt.Statfs = statfsFree
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	s := &Spool{dir: dir, opt: opt}
	if err := s.recover(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Spool) recover() error {
	tmp := filepath.Join(s.dir, "tmp")
	des, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, de := range des {
		// A payload never committed: the customer was not told it was
		// accepted, so it may go.
		os.Remove(filepath.Join(tmp, de.Name()))
	}
	des, err = os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		id, ok := strings.CutSuffix(name, ".age")
		if !ok || de.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.dir, id+".manifest")); errors.Is(err, os.ErrNotExist) {
			// Payload renamed, manifest not yet written: the crash came
			// before the commit returned, so the customer was not told.
			os.Remove(filepath.Join(s.dir, name))
		}
	}
	for _, de := range des {
		id, ok := strings.CutSuffix(de.Name(), ".manifest")
		if !ok {
			continue
		}
		if _, err := s.load(id); errors.Is(err, ErrCorrupt) {
			s.quarantine(id, err.Error())
		} else if err != nil && !errors.Is(err, ErrNotFound) {
			// Not proven corrupt (no descriptors left, an I/O error):
			// it stays, and List tries it again.
			s.opt.Logger.Warn("spool: entry unreadable for now", "packet", id, "err", err)
		}
	}
	return syncDir(s.dir)
}

// Dir is the spool's folder.
func (s *Spool) Dir() string { return s.dir }

// Pending is a payload being written. Write the ciphertext to it, then
// Commit or Abort.
type Pending struct {
	s    *Spool
	f    *os.File
	h    io.Writer
	sum  func() []byte
	n    int64
	done bool
}

// Create starts a new payload. It refuses when the disk is in alarm state.
func (s *Spool) Create() (*Pending, error) {
	if u := s.Usage(); u.State == DiskAlarm {
		return nil, ErrFull
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "payload-*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	h := sha256.New()
	return &Pending{s: s, f: f, h: h, sum: func() []byte { return h.Sum(nil) }}, nil
}

// Write writes ciphertext.
func (p *Pending) Write(b []byte) (int, error) {
	if max := p.s.opt.MaxBytes; max > 0 && p.n+int64(len(b)) > max {
		return 0, ErrFull
	}
	n, err := p.f.Write(b)
	p.h.Write(b[:n])
	p.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("spool: %w", err)
	}
	return n, nil
}

// Abort discards the payload.
func (p *Pending) Abort() {
	if p.done {
		return
	}
	p.done = true
	p.f.Close()
	os.Remove(p.f.Name())
}

// Commit makes the entry durable: the payload is fsync'd and renamed, then
// the signed manifest is written the same way, then the folder is fsync'd.
// Only after Commit returns nil may the customer be told the document is
// accepted. m must describe what was written.
func (p *Pending) Commit(m wire.Manifest, signed []byte) error {
	if p.done {
		return errors.New("spool: pending entry already ended")
	}
	defer p.Abort()
	if m.Size != p.n || m.SHA256 != hex.EncodeToString(p.sum()) {
		return fmt.Errorf("%w: manifest does not describe the payload", ErrCorrupt)
	}
	if !wire.ValidID(m.PacketID) {
		return fmt.Errorf("%w: packet id", ErrCorrupt)
	}
	if err := p.f.Sync(); err != nil {
		return fmt.Errorf("spool: sync payload: %w", err)
	}
	if err := p.f.Close(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.changed()
	if err := os.Rename(p.f.Name(), filepath.Join(s.dir, m.PacketID+".age")); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := writeAtomic(s.dir, m.PacketID+".manifest", signed); err != nil {
		os.Remove(filepath.Join(s.dir, m.PacketID+".age"))
		return err
	}
	p.done = true
	return nil
}

// List returns the complete entries, oldest first. An entry proven corrupt
// is quarantined; one that cannot be read just now (a fault of the file
// system, "too many open files") is left where it is, out of this list, and
// the error is returned along with the entries that could be read.
func (s *Spool) List() ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []Entry
	var faults []error
	for _, de := range des {
		id, ok := strings.CutSuffix(de.Name(), ".manifest")
		if !ok {
			continue
		}
		e, err := s.load(id)
		switch {
		case errors.Is(err, ErrCorrupt):
			s.quarantine(id, err.Error())
			continue
		case errors.Is(err, ErrNotFound):
			continue // removed meanwhile
		case err != nil:
			faults = append(faults, err)
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Manifest, out[j].Manifest
		if !a.Created.Equal(b.Created) {
			return a.Created.Before(b.Created)
		}
		return a.PacketID < b.PacketID
	})
	if len(faults) > 0 {
		return out, fmt.Errorf("%w: %d entries unreadable for now: %w", ErrUnreadable, len(faults), faults[0])
	}
	return out, nil
}

// Get returns the entry of packet id.
func (s *Spool) Get(id string) (Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load(id)
}

// load reads and checks an entry's manifest against its payload's size. The
// signature is the central's to check; the kiosk checks what it can without
// reading the whole payload.
func (s *Spool) load(id string) (Entry, error) {
	if !wire.ValidID(id) {
		return Entry{}, ErrNotFound
	}
	signed, err := os.ReadFile(filepath.Join(s.dir, id+".manifest"))
	if errors.Is(err, os.ErrNotExist) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, fmt.Errorf("spool: %w", err)
	}
	env, err := wire.OpenSigned(signed, wire.TypeManifest)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	var m wire.Manifest
	if err := jsonUnmarshal(env.Body, &m); err != nil {
		return Entry{}, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	if err := m.Validate(); err != nil || m.PacketID != id {
		return Entry{}, fmt.Errorf("%w: manifest fields", ErrCorrupt)
	}
	fi, err := os.Stat(filepath.Join(s.dir, id+".age"))
	if errors.Is(err, os.ErrNotExist) {
		return Entry{}, fmt.Errorf("%w: payload missing", ErrCorrupt)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("spool: %w", err)
	}
	if fi.Size() != m.Size {
		return Entry{}, fmt.Errorf("%w: payload size %d, manifest says %d", ErrCorrupt, fi.Size(), m.Size)
	}
	return Entry{Manifest: m, Signed: signed}, nil
}

// Open opens an entry's payload for reading.
func (s *Spool) Open(id string) (*os.File, error) {
	if !wire.ValidID(id) {
		return nil, ErrNotFound
	}
	f, err := os.Open(filepath.Join(s.dir, id+".age"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	return f, err
}

// Remove deletes a delivered entry: the manifest first (so a crash leaves
// at worst an orphan payload that Open clears), then the payload.
func (s *Spool) Remove(id string) error {
	if !wire.ValidID(id) {
		return ErrNotFound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.changed()
	err := os.Remove(filepath.Join(s.dir, id+".manifest"))
	if errors.Is(err, os.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	os.Remove(filepath.Join(s.dir, id+".age"))
	return syncDir(s.dir)
}

// Quarantine moves an entry out of the send queue, raising an alarm.
func (s *Spool) Quarantine(id, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quarantine(id, reason)
}

func (s *Spool) quarantine(id, reason string) {
	if !wire.ValidID(id) {
		return
	}
	defer s.changed()
	q := filepath.Join(s.dir, "quarantine")
	for _, ext := range []string{".age", ".manifest"} {
		os.Rename(filepath.Join(s.dir, id+ext), filepath.Join(q, id+ext))
	}
	writeAtomic(q, id+".reason", []byte(reason+"\n"))
	syncDir(s.dir)
	s.opt.Logger.Warn("spool entry quarantined", "packet", id, "reason", reason)
	if s.opt.Alarm != nil {
		s.opt.Alarm("spool.quarantine", reason)
	}
}

// RecentUsage is Usage, answered from the last one taken when that is
// younger than RecentUsageAge and the spool has not changed since. It is
// for the hot paths that ask per screen update (can the kiosk accept?):
// Usage reads the whole folder, whose cost grows with the backlog.
func (s *Spool) RecentUsage() Usage {
	s.recentMu.Lock()
	defer s.recentMu.Unlock()
	if r := s.recent; r != nil && time.Since(r.at) < RecentUsageAge {
		return r.u
	}
	u := s.Usage()
	s.recent = &recentUsage{u: u, at: time.Now()}
	return u
}

// changed forgets the recent usage: the spool's own entries changed.
func (s *Spool) changed() {
	s.recentMu.Lock()
	s.recent = nil
	s.recentMu.Unlock()
}

// Usage reports the spool's size and the disk state, read from the
// folder and the file system now.
func (s *Spool) Usage() Usage {
	var u Usage
	des, _ := os.ReadDir(s.dir)
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".manifest") {
			u.Entries++
		}
		if strings.HasSuffix(de.Name(), ".age") {
			if fi, err := de.Info(); err == nil {
				u.Bytes += fi.Size()
			}
		}
	}
	qs, _ := os.ReadDir(filepath.Join(s.dir, "quarantine"))
	for _, de := range qs {
		if strings.HasSuffix(de.Name(), ".reason") {
			u.Quarantined++
		}
	}
	u.State = DiskOK
	free, err := s.opt.Statfs(s.dir)
	u.Free = free
	switch {
	case err != nil || free < s.opt.AlarmFree || (s.opt.MaxBytes > 0 && u.Bytes >= s.opt.MaxBytes):
		u.State = DiskAlarm
	case free < s.opt.WarnFree || (s.opt.MaxBytes > 0 && u.Bytes >= s.opt.MaxBytes*8/10):
		u.State = DiskWarning
	}
	return u
}

func statfsFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// writeAtomic writes name in dir so that a crash leaves the old content or
// the new (internal/atomicfile).
func writeAtomic(dir, name string, data []byte) error {
	if err := atomicfile.Write(filepath.Join(dir, name), data, 0o600); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: sync folder: %w", err)
	}
	return nil
}
