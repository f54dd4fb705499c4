package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/internal/sqldb"
)

// MigrationOpener opens the database at dsn with the given migrations.
type MigrationOpener func(t *testing.T, dsn string, ms []sqldb.Migration) (*sqldb.DB, error)

// Migrations checks an implementation's schema migrations against the
// empty database at dsn: they apply from nothing; a failing migration
// leaves the database as it was (its first statements rolled back with
// it, the version unchanged, the data kept); a database newer than the
// program is refused; and the real migrations apply after a failed try.
func Migrations(t *testing.T, ms []sqldb.Migration, open MigrationOpener, dsn string) {
	ctx := context.Background()
	if len(ms) == 0 {
		t.Fatal("no migrations")
	}
	// Version 1 only, with a row in it.
	db, err := open(t, dsn, ms[:1])
	if err != nil {
		t.Fatal(err)
	}
	if v, err := sqldb.Version(ctx, db.SQL()); err != nil || v != 1 {
		t.Fatalf("version = %d, %v; want 1", v, err)
	}
	if err := db.PutKiosk(ctx, store.KioskState{KioskID: "k1", Site: "nord"}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// A migration that creates a table, changes a row, then fails.
	bad := append(append([]sqldb.Migration{}, ms...), sqldb.Migration{Version: len(ms) + 1, Name: "bad",
		SQL: `CREATE TABLE half_done (x INTEGER);
UPDATE kiosks SET site = 'changed';
INSERT INTO no_such_table VALUES (1);`})
	if _, err := open(t, dsn, bad); err == nil {
		t.Fatal("a failing migration opened the database")
	}
	db, err = open(t, dsn, ms[:1])
	if err != nil {
		t.Fatalf("after a failed migration: %v", err)
	}
	if v, err := sqldb.Version(ctx, db.SQL()); err != nil || v != 1 {
		t.Fatalf("version after a failed migration = %d, %v; want 1 (unchanged)", v, err)
	}
	var n int
	if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM half_done`).Scan(&n); err == nil {
		t.Fatal("the failed migration's table exists")
	}
	if k, err := db.Kiosk(ctx, "k1"); err != nil || k.Site != "nord" {
		t.Fatalf("data after a failed migration = %+v, %v; want site nord", k, err)
	}
	db.Close()

	// The real migrations apply, then a newer database is refused.
	db, err = open(t, dsn, ms)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := sqldb.Version(ctx, db.SQL()); v != len(ms) {
		t.Fatalf("version = %d, want %d", v, len(ms))
	}
	db.Close()
	newer := append(append([]sqldb.Migration{}, ms...), sqldb.Migration{Version: len(ms) + 1, Name: "next",
		SQL: `CREATE TABLE next_thing (x INTEGER);`})
	db, err = open(t, dsn, newer)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = open(t, dsn, ms)
	if !errors.Is(err, sqldb.ErrSchema) {
		t.Fatalf("opening a newer database: %v, want ErrSchema", err)
	}
}
