package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/internal/sqldb"
	"github.com/einwurf/einwurf/central/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) store.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "central.db"), Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestMigrations(t *testing.T) {
	ms, err := sqldb.ReadMigrations(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	storetest.Migrations(t, ms, func(t *testing.T, path string, ms []sqldb.Migration) (*sqldb.DB, error) {
		return open(context.Background(), path, Options{}, ms)
	}, filepath.Join(t.TempDir(), "central.db"))
}

// TestReopen checks that the data outlives the process's handle and that a
// second Open of a migrated file changes nothing.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "central.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, store.FiledPacket{KioskID: "k1", PacketID: "p1", Status: "filed", Received: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Lookup(ctx, "k1", "p1"); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "no", "such", "dir.db"), Options{}); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("opening in a missing folder: %v", err)
	}
}
