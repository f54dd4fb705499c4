package wire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
)

// TypeStaffList is the signature domain of a StaffList.
const TypeStaffList = "staff-list"

// StaffListTopic carries the central's signed StaffList to one kiosk,
// retained: a kiosk gets the newest list at every connect, also after being
// offline or at its first start, and keeps it only when its Seq is newer.
func StaffListTopic(kioskID string) string { return CentralPrefix(kioskID) + "/staff-list" }

// StaffList is who may open a kiosk's service mode, signed by the central:
// staff badges as salted hashes of their numbers (a Wiegand reader sends
// digits only, so it never carries a customer number, which has a letter),
// and PIN slots as argon2id hashes with their parameters. It holds no badge
// number and no PIN in the clear.
type StaffList struct {
	// Seq grows with every list the central issues; a kiosk keeps the
	// newest it has seen.
	Seq    uint64    `json:"seq"`
	Issued time.Time `json:"issued"`
	// Salt is mixed into every badge hash of this list (hex, 16 bytes).
	Salt string `json:"salt"`
	// Badges are BadgeHash(Salt, number) of the staff badges.
	Badges []string `json:"badges,omitempty"`
	// PINs are the PIN slots.
	PINs []PINSlot `json:"pins,omitempty"`
}

// PINSlot is one service PIN: argon2id(pin, salt, time, memory, threads)
// of length len(Hash). Slot is what the audit names instead of a person.
type PINSlot struct {
	Slot      int    `json:"slot"`
	Salt      []byte `json:"salt"`
	Hash      []byte `json:"hash"`
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
}

var (
	badgeNumber = regexp.MustCompile(`^[0-9]{4,20}$`)
	hexHash     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	hexSalt     = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// ValidBadgeNumber reports whether s looks like a staff badge number as a
// Wiegand reader sends it: 4 to 20 digits.
func ValidBadgeNumber(s string) bool { return badgeNumber.MatchString(s) }

// BadgeHash is the hash of badge number under the list's salt (hex).
func BadgeHash(salt, number string) string {
	h := sha256.Sum256([]byte("einwurf/" + Version + "/badge\n" + salt + "\n" + number))
	return hex.EncodeToString(h[:])
}

// Check reports whether the list is well-formed: a salt, hashes of the
// right shape, PIN slots with sane KDF parameters (bounded, so a forged
// or broken list cannot make a kiosk spend its memory).
func (l StaffList) Check() error {
	if !hexSalt.MatchString(l.Salt) {
		return fmt.Errorf("%w: staff list salt", ErrMalformed)
	}
	for _, b := range l.Badges {
		if !hexHash.MatchString(b) {
			return fmt.Errorf("%w: badge hash %q", ErrMalformed, b)
		}
	}
	seen := map[int]bool{}
	for _, p := range l.PINs {
		switch {
		case p.Slot < 1 || p.Slot > 99 || seen[p.Slot]:
			return fmt.Errorf("%w: PIN slot %d", ErrMalformed, p.Slot)
		case len(p.Salt) < 16 || len(p.Salt) > 64 || len(p.Hash) < 16 || len(p.Hash) > 64:
			return fmt.Errorf("%w: PIN slot %d salt or hash length", ErrMalformed, p.Slot)
		case p.Time < 1 || p.Time > 10 || p.MemoryKiB < 8<<10 || p.MemoryKiB > 256<<10 || p.Threads < 1 || p.Threads > 8:
			return fmt.Errorf("%w: PIN slot %d KDF parameters", ErrMalformed, p.Slot)
		}
		seen[p.Slot] = true
	}
	return nil
}

// SignStaffList checks and signs l with the central's key.
func SignStaffList(key ed25519.PrivateKey, l StaffList) ([]byte, error) {
	if err := l.Check(); err != nil {
		return nil, err
	}
	return Sign(key, TypeStaffList, l)
}

// OpenStaffList verifies a signed staff list with the central's public
// key and checks it.
func OpenStaffList(pub ed25519.PublicKey, data []byte) (StaffList, error) {
	var l StaffList
	if err := Verify(pub, TypeStaffList, data, &l); err != nil {
		return StaffList{}, err
	}
	if err := l.Check(); err != nil {
		return StaffList{}, err
	}
	return l, nil
}
