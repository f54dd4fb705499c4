package service

import (
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/einwurf/einwurf/internal/atomicfile"
	"github.com/einwurf/einwurf/wire"
)

// Errors of authentication.
var (
	// ErrNotStaff means the badge or PIN is not on the staff list.
	ErrNotStaff = errors.New("service: not on the staff list")
	// ErrNoStaffList means the kiosk has no valid staff list: nobody can
	// log in until the central sends one.
	ErrNoStaffList = errors.New("service: no staff list")
	// ErrStaleList refuses a staff list older than the one held (a replay
	// of a withdrawn list, say).
	ErrStaleList = errors.New("service: staff list older than the one held")
	// ErrSameList means the list is the one held already (a retained
	// message delivered again at a reconnect): nothing to do.
	ErrSameList = errors.New("service: staff list already held")
)

// LockedError is returned while PIN entry is locked after failed tries.
type LockedError struct{ Until time.Time }

func (e LockedError) Error() string {
	return "service: PIN entry locked until " + e.Until.UTC().Format(time.RFC3339)
}

// Staff holds the kiosk's staff list (signed by the central) and checks
// badges and PINs against it, with PIN tries rate-limited.
type Staff struct {
	pub ed25519.PublicKey
	now func() time.Time

	// update serializes Update, whose file write happens outside mu (a
	// badge or PIN check never waits for an fsync).
	update   sync.Mutex
	mu       sync.Mutex
	list     *wire.StaffList
	failures int
	locked   time.Time
	// lockPath keeps failures and locked across restarts ("": in memory
	// only); lockMu orders its writes.
	lockPath string
	lockMu   sync.Mutex
}

// pinLock is the PIN entry's rate limit as kept in its file.
type pinLock struct {
	Failures int       `json:"failures"`
	Locked   time.Time `json:"locked"`
}

// KeepLock keeps the PIN entry's failure count and lock in the file at
// path, so that restarting the kiosk (pulling its plug) does not give an
// attacker at the keypad free tries again. A lock already in the file is
// in force at once; an unreadable file counts as the lock at its longest,
// from now.
func (s *Staff) KeepLock(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lockPath = path
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var l pinLock
	if err == nil {
		err = json.Unmarshal(b, &l)
	}
	if err != nil || l.Failures < 0 {
		s.failures, s.locked = FreeTries+10, s.now().Add(LockMax)
		return fmt.Errorf("service: PIN lock file unreadable, entry locked for %v: %w", LockMax, err)
	}
	s.failures, s.locked = l.Failures, l.Locked
	return nil
}

// storeLock writes the current failures and lock to the lock file.
func (s *Staff) storeLock() error {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	s.mu.Lock()
	path, l := s.lockPath, pinLock{Failures: s.failures, Locked: s.locked}
	s.mu.Unlock()
	if path == "" {
		return nil
	}
	b, _ := json.Marshal(l)
	return atomicfile.Write(path, b, 0o600)
}

// Rate limit of PIN tries: FreeTries failures in a row are allowed, then
// each further failure locks entry for LockBase, doubling, at most LockMax.
const (
	FreeTries = 3
	LockBase  = 30 * time.Second
	LockMax   = 15 * time.Minute
)

// NewStaff returns a Staff that accepts lists signed with the central's
// key pub. now is the clock (nil: time.Now).
func NewStaff(pub ed25519.PublicKey, now func() time.Time) *Staff {
	if now == nil {
		now = time.Now
	}
	return &Staff{pub: pub, now: now}
}

// Load verifies a signed staff list and uses it when it is newer than
// the one held. A list that does not verify changes nothing.
func (s *Staff) Load(signed []byte) error {
	l, err := wire.OpenStaffList(s.pub, signed)
	if err != nil {
		return fmt.Errorf("service: staff list: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.list != nil && l.Seq <= s.list.Seq {
		return fmt.Errorf("service: staff list %d is not newer than %d", l.Seq, s.list.Seq)
	}
	s.list = &l
	return nil
}

// Update takes a signed staff list the central sent: it is verified with
// the central's key and must be newer than the one held (ErrSameList for
// the same sequence, ErrStaleList for an older one). It is stored at path
// (temp → fsync → rename → fsync of the folder) before it is used, so a
// restart keeps it; a list refused, or not stored, changes nothing. It
// returns the list's sequence number.
func (s *Staff) Update(signed []byte, path string) (uint64, error) {
	l, err := wire.OpenStaffList(s.pub, signed)
	if err != nil {
		return 0, fmt.Errorf("service: staff list: %w", err)
	}
	s.update.Lock()
	defer s.update.Unlock()
	if held := s.Seq(); held != 0 {
		switch {
		case l.Seq == held:
			return l.Seq, ErrSameList
		case l.Seq < held:
			return l.Seq, fmt.Errorf("%w: %d, held %d", ErrStaleList, l.Seq, held)
		}
	}
	if err := atomicfile.Write(path, signed, 0o600); err != nil {
		return l.Seq, fmt.Errorf("service: staff list not stored: %w", err)
	}
	s.mu.Lock()
	s.list = &l
	s.mu.Unlock()
	return l.Seq, nil
}

// Seq is the sequence number of the list held (0: none).
func (s *Staff) Seq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.list == nil {
		return 0
	}
	return s.list.Seq
}

// LoadFile loads the signed staff list at path.
func (s *Staff) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("service: staff list: %w", err)
	}
	return s.Load(b)
}

// Badge checks a badge number read on the Wiegand reader and returns who
// the audit names: "badge:" and the first 12 hex digits of its hash.
func (s *Staff) Badge(number string) (string, error) {
	s.mu.Lock()
	l := s.list
	s.mu.Unlock()
	if l == nil {
		return "", ErrNoStaffList
	}
	if !wire.ValidBadgeNumber(number) {
		return "", ErrNotStaff
	}
	h := wire.BadgeHash(l.Salt, number)
	for _, b := range l.Badges {
		if subtle.ConstantTimeCompare([]byte(b), []byte(h)) == 1 {
			return "badge:" + h[:12], nil
		}
	}
	return "", ErrNotStaff
}

// PIN checks a PIN against every slot with argon2id (slow on purpose)
// and returns who the audit names, "pin:" and the slot. While entry is
// locked it fails with LockedError without hashing.
func (s *Staff) PIN(pin string) (string, error) {
	s.mu.Lock()
	l, locked := s.list, s.locked
	s.mu.Unlock()
	if now := s.now(); now.Before(locked) {
		return "", LockedError{Until: locked}
	}
	if l == nil {
		return "", ErrNoStaffList
	}
	slot := 0
	if len(pin) >= 4 && len(pin) <= 12 {
		for _, p := range l.PINs {
			got := argon2.IDKey([]byte(pin), p.Salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(p.Hash)))
			if subtle.ConstantTimeCompare(got, p.Hash) == 1 {
				slot = p.Slot
			}
		}
	}
	s.mu.Lock()
	before := s.failures
	if slot == 0 {
		s.failures++
		if n := s.failures - FreeTries; n > 0 {
			d := LockBase << min(n-1, 10)
			s.locked = s.now().Add(min(d, LockMax))
		}
	} else {
		s.failures, s.locked = 0, time.Time{}
	}
	s.mu.Unlock()
	if slot == 0 || before != 0 {
		// A lock that cannot be kept still holds in memory.
		_ = s.storeLock()
	}
	if slot == 0 {
		return "", ErrNotStaff
	}
	return fmt.Sprintf("pin:%d", slot), nil
}

// NewPINSlot hashes pin into slot with the parameters a kiosk checks fast
// enough (argon2id, 19 MiB, 2 passes): for simulations and tests; the
// central's badges command makes the real lists.
func NewPINSlot(slot int, pin string, salt []byte) wire.PINSlot {
	p := wire.PINSlot{Slot: slot, Salt: salt, Time: 2, MemoryKiB: 19 << 10, Threads: 1}
	p.Hash = argon2.IDKey([]byte(pin), p.Salt, p.Time, p.MemoryKiB, p.Threads, 32)
	return p
}
