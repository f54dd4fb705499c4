// Package postgres is the central's shared store: PostgreSQL through pgx
// (pure Go), for several central processes on several machines that must
// share one truth: the ledger of filed packets (so a packet is filed exactly
// once whichever ingest process receives its chunks), the fleet's state,
// alarms, the command audit log, rollouts and accounts. It passes the same
// suite as the SQLite store (storetest).
//
// Open migrates the schema, serialised across processes by an advisory
// lock; all pending migrations run in one transaction, so a failed one
// leaves the database as it was.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/internal/sqldb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the advisory lock key the migration transaction holds
// (an arbitrary constant: "einwurf" in ASCII).
const migrationLock = 0x65696e77757266

var dialect = sqldb.Dialect{Name: "postgres", Numbered: true,
	LockMigrations: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock)}

// Options tune Open. The zero value is the default.
type Options struct {
	// Now is the clock claims' leases are measured with; nil uses time.Now.
	Now func() time.Time
	// MaxConns bounds the connections of each of this process's two pools
	// (default 16).
	MaxConns int
}

// Open connects to the database dsn names (a libpq connection string or
// URL, e.g. "host=db.example port=5432 user=central dbname=einwurf
// sslmode=verify-full") and brings its schema to the newest version.
func Open(ctx context.Context, dsn string, o Options) (store.Store, error) {
	ms, err := sqldb.ReadMigrations(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return open(ctx, dsn, o, ms)
}

func open(ctx context.Context, dsn string, o Options, ms []sqldb.Migration) (*sqldb.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store postgres: %w", err)
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 16
	}
	// Two pools: sure commits wait for the WAL on disk (and for a
	// synchronous standby, where one is configured), for the ledger, audit
	// log, rollouts and accounts; fast ones (synchronous_commit off) do
	// not, for the fleet's state and history.
	sure := pool(*cfg, o.MaxConns)
	if err := ping(ctx, sure); err != nil {
		sure.Close()
		return nil, err
	}
	if _, _, err := sqldb.Migrate(ctx, sure, dialect, ms); err != nil {
		sure.Close()
		return nil, err
	}
	fastCfg := cfg.Copy()
	fastCfg.RuntimeParams["synchronous_commit"] = "off"
	fast := pool(*fastCfg, o.MaxConns)
	return sqldb.New(fast, sure, dialect, o.Now), nil
}

func pool(cfg pgx.ConnConfig, n int) *sql.DB {
	db := stdlib.OpenDB(cfg)
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db
}

func ping(ctx context.Context, db *sql.DB) error {
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("store postgres: %w", err)
	}
	return nil
}
