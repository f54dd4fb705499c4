package wire

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

func testStaffList() StaffList {
	salt := strings.Repeat("ab", 16)
	return StaffList{Seq: 3, Salt: salt, Badges: []string{BadgeHash(salt, "12345678")},
		PINs: []PINSlot{{Slot: 1, Salt: make([]byte, 16), Hash: make([]byte, 32), Time: 2, MemoryKiB: 19 << 10, Threads: 1}}}
}

func TestStaffListSigned(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	b, err := SignStaffList(key, testStaffList())
	if err != nil {
		t.Fatal(err)
	}
	l, err := OpenStaffList(pub, b)
	if err != nil || l.Seq != 3 || len(l.Badges) != 1 || l.Badges[0] != BadgeHash(l.Salt, "12345678") {
		t.Fatalf("%+v %v", l, err)
	}
	if strings.Contains(string(b), "12345678") {
		t.Fatal("the signed list holds a badge number")
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if _, err := OpenStaffList(other, b); !errors.Is(err, ErrSignature) {
		t.Fatalf("other key: %v", err)
	}
	bad := testStaffList()
	bad.PINs[0].MemoryKiB = 4 << 20
	if _, err := SignStaffList(key, bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge KDF memory: %v", err)
	}
	if !ValidBadgeNumber("12345678") || ValidBadgeNumber("035F083761") || ValidBadgeNumber("12") {
		t.Fatal("ValidBadgeNumber")
	}
}

func FuzzOpenStaffList(f *testing.F) {
	pub, key, _ := ed25519.GenerateKey(nil)
	b, _ := SignStaffList(key, testStaffList())
	f.Add(b)
	f.Add([]byte(`{"type":"staff-list","body":{},"sig":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := OpenStaffList(pub, data)
		if err == nil {
			if cerr := l.Check(); cerr != nil {
				t.Fatalf("accepted a list that does not check: %v", cerr)
			}
		}
	})
}
