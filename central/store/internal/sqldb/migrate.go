package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrSchema is returned when the database's schema is newer than this
// program knows, or the migration files are not numbered 1, 2, 3, ….
var ErrSchema = errors.New("store: schema version")

// Migration is one step of the schema, as one SQL script.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// ReadMigrations reads the scripts NNNN_name.sql of dir in fsys, numbered
// from 1 without gaps.
func ReadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	des, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	var ms []Migration
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("%w: migration file %q is not NNNN_name.sql", ErrSchema, name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("store: migrations: %w", err)
		}
		ms = append(ms, Migration{Version: v, Name: strings.TrimSuffix(name, ".sql"), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("%w: migration %d missing", ErrSchema, i+1)
		}
	}
	return ms, nil
}

// Migrate brings db to the newest of ms. All pending migrations run in one
// transaction together with the record of the version reached, so a
// migration that fails leaves the database exactly as it was (both SQLite
// and PostgreSQL roll back DDL). Several processes may call Migrate at once:
// the dialect serialises them. A database newer than ms is refused
// (ErrSchema), never touched.
//
// It returns the version the database was at and the one it is at now.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, ms []Migration) (from, to int, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("store %s: migrate: %w", d.Name, err)
	}
	defer tx.Rollback()
	if d.LockMigrations != "" {
		if _, err := tx.ExecContext(ctx, d.LockMigrations); err != nil {
			return 0, 0, fmt.Errorf("store %s: migrate: lock: %w", d.Name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL)`); err != nil {
		return 0, 0, fmt.Errorf("store %s: migrate: %w", d.Name, err)
	}
	var cur sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&cur); err != nil {
		return 0, 0, fmt.Errorf("store %s: migrate: %w", d.Name, err)
	}
	from = int(cur.Int64)
	if from > len(ms) {
		return from, from, fmt.Errorf("%w: the database is at %d, this program knows up to %d", ErrSchema, from, len(ms))
	}
	for _, m := range ms[from:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return from, from, fmt.Errorf("store %s: migration %s failed, database left at version %d: %w", d.Name, m.Name, from, err)
		}
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)`),
			m.Version, m.Name, time.Now().UnixNano()); err != nil {
			return from, from, fmt.Errorf("store %s: migrate: %w", d.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return from, from, fmt.Errorf("store %s: migrate: %w", d.Name, err)
	}
	return from, len(ms), nil
}

// Version returns the schema version db is at (0 for an empty database).
func Version(ctx context.Context, db *sql.DB) (int, error) {
	var cur sql.NullInt64
	err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&cur)
	if err != nil {
		return 0, fmt.Errorf("store: version: %w", err)
	}
	return int(cur.Int64), nil
}
