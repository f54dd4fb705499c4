package spool

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestRecentUsage: RecentUsage answers from the last usage while the
// spool is unchanged, but counts again after each of its own changes
// (commit, remove, quarantine) and after RecentUsageAge.
func TestRecentUsage(t *testing.T) {
	var free atomic.Int64
	free.Store(1 << 40)
	var statfs atomic.Int64
	s, err := Open(t.TempDir(), Options{AlarmFree: 1 << 20, Statfs: func(string) (int64, error) {
		statfs.Add(1)
		return free.Load(), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if u := s.RecentUsage(); u.Entries != 0 || u.State != DiskOK {
		t.Fatalf("empty spool: %+v", u)
	}
	asked := statfs.Load()
	for range 100 {
		s.RecentUsage()
	}
	if n := statfs.Load() - asked; n != 0 {
		t.Fatalf("an unchanged spool was read %d times again within %v", n, RecentUsageAge)
	}
	put(t, s, "0123456789abcdef0123456789abcdef", []byte("payload"), now)
	if u := s.RecentUsage(); u.Entries != 1 || u.Bytes != 7 {
		t.Fatalf("after a commit: %+v, want the new entry counted", u)
	}
	s.Quarantine("0123456789abcdef0123456789abcdef", "test")
	if u := s.RecentUsage(); u.Entries != 0 || u.Quarantined != 1 {
		t.Fatalf("after a quarantine: %+v", u)
	}
	put(t, s, "fedcba9876543210fedcba9876543210", []byte("x"), now)
	s.RecentUsage()
	if err := s.Remove("fedcba9876543210fedcba9876543210"); err != nil {
		t.Fatal(err)
	}
	if u := s.RecentUsage(); u.Entries != 0 {
		t.Fatalf("after a remove: %+v", u)
	}
	// Another writer fills the disk: seen once the recent usage is old.
	free.Store(1 << 10)
	deadline := time.Now().Add(RecentUsageAge + 30*time.Second)
	for s.RecentUsage().State != DiskAlarm {
		if time.Now().After(deadline) {
			t.Fatalf("a full disk not seen after %v", RecentUsageAge)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if u := s.Usage(); u.State != DiskAlarm {
		t.Fatalf("Usage: %+v", u)
	}
}

// BenchmarkUsageWithBacklog: what one "can the kiosk accept?" costs per
// screen update with a backlog waiting in the outbox (a central away over
// a weekend): Usage reads the whole folder; RecentUsage, asked as often,
// reads it at most once per RecentUsageAge.
func BenchmarkUsageWithBacklog(b *testing.B) {
	for _, n := range []int{10, 1000} {
		s, err := Open(b.TempDir(), Options{Statfs: bigFree})
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			put(b, s, fmt.Sprintf("%032x", i+1), []byte("payload"), time.Now())
		}
		b.Run(fmt.Sprintf("entries=%d/Usage", n), func(b *testing.B) {
			for b.Loop() {
				if u := s.Usage(); u.Entries != n {
					b.Fatalf("%d entries", u.Entries)
				}
			}
		})
		b.Run(fmt.Sprintf("entries=%d/RecentUsage", n), func(b *testing.B) {
			for b.Loop() {
				if u := s.RecentUsage(); u.Entries != n {
					b.Fatalf("%d entries", u.Entries)
				}
			}
		})
	}
}
