// Package sqlite is the central's embedded store: one SQLite database file
// (pure Go, modernc.org/sqlite), for a central that runs as one process
// (make run, small sites). It passes the same suite as the PostgreSQL store
// (storetest).
//
// The file is opened in WAL mode with a busy time-out, every transaction
// takes the write lock when it begins (BEGIN IMMEDIATE, so two writers never
// deadlock upgrading a read lock), and the schema is migrated on Open.
// Commits of the ledger, the audit log, rollouts and accounts wait for the
// disk (synchronous FULL); those of the fleet's state, samples, events and
// alarms do not (NORMAL: a power cut may lose their last moments, which the
// next telemetry restores, and never corrupts the file). Waiting for the
// disk at every telemetry message held a 2,000-kiosk fleet's p99 at 2.9 s;
// without it, 0.19 s (docs/operations.md).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/internal/sqldb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

var dialect = sqldb.Dialect{Name: "sqlite"}

// Options tune Open. The zero value is the default.
type Options struct {
	// Now is the clock claims' leases are measured with; nil uses time.Now.
	Now func() time.Time
}

// Open opens (creating if needed) the database file at path and brings its
// schema to the newest version. A migration that fails leaves the file as
// it was and Open returns the error.
func Open(ctx context.Context, path string, o Options) (store.Store, error) {
	ms, err := sqldb.ReadMigrations(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return open(ctx, path, o, ms)
}

func open(ctx context.Context, path string, o Options, ms []sqldb.Migration) (*sqldb.DB, error) {
	// Two pools on the one file: sure commits wait for the disk (FULL),
	// for the ledger, audit log, rollouts and accounts; fast ones do not
	// (NORMAL, safe in WAL mode), for the fleet's state and history.
	if err := ensureWAL(ctx, path); err != nil {
		return nil, err
	}
	sure, err := pool(path, "FULL")
	if err != nil {
		return nil, err
	}
	if _, _, err := sqldb.Migrate(ctx, sure, dialect, ms); err != nil {
		sure.Close()
		return nil, err
	}
	fast, err := pool(path, "NORMAL")
	if err != nil {
		sure.Close()
		return nil, err
	}
	return sqldb.New(fast, sure, dialect, o.Now), nil
}

// ensureWAL puts the file at path into WAL mode, once, before the pools
// open it. Switching a new file to WAL needs the file to itself for a moment,
// and SQLite answers SQLITE_BUSY at once (its busy handler does not wait
// for this): when the central's processes start together on a new
// database, all but one would fail. The switch is tried again for a while;
// a file already in WAL mode costs one query.
func ensureWAL(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("store sqlite: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	wait := 5 * time.Millisecond
	deadline := time.Now().Add(30 * time.Second)
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("store sqlite: the file stays in journal mode %q, not WAL", mode)
		case !isBusy(err) || time.Now().After(deadline):
			return fmt.Errorf("store sqlite: WAL mode: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("store sqlite: WAL mode: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's "database is locked" (SQLITE_BUSY
// or one of its extended codes).
func isBusy(err error) bool {
	var c interface{ Code() int }
	return errors.As(err, &c) && c.Code()&0xff == 5
}

// pool opens connections to the file at path with the given synchronous
// mode.
func pool(path, synchronous string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+synchronous+")")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store sqlite: %w", err)
	}
	// One writer at a time is all SQLite has; more connections serve reads
	// beside it (WAL).
	db.SetMaxOpenConns(4)
	return db, nil
}
