// Package sqlite is the central's embedded store: one SQLite database file
// (pure Go, modernc.org/sqlite), for a central that runs as one process
// (make run, small sites). It passes the same suite as the PostgreSQL store
// (storetest).
//
// The file is opened in WAL mode with a busy time-out, every transaction
// takes the write lock when it begins (BEGIN IMMEDIATE, so two writers never
// deadlock upgrading a read lock), and the schema is migrated on Open.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"net/url"
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
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL: a committed ledger record survives a power cut, as the
	// receipt sent after it promises.
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store sqlite: %w", err)
	}
	// One writer at a time is all SQLite has; more connections serve reads
	// beside it (WAL).
	db.SetMaxOpenConns(8)
	if _, _, err := sqldb.Migrate(ctx, db, dialect, ms); err != nil {
		db.Close()
		return nil, err
	}
	return sqldb.New(db, dialect, o.Now), nil
}
