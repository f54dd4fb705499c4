package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/internal/sqldb"
	"github.com/einwurf/einwurf/central/store/postgres/pgtest"
	"github.com/einwurf/einwurf/central/store/storetest"
)

// TestPostgres runs the shared suite and the migration checks against a
// real server this test starts.
func TestPostgres(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	ctx := context.Background()
	t.Run("Suite", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, now func() time.Time) store.Store {
			s, err := Open(ctx, srv.NewDatabase(t), Options{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
	t.Run("Migrations", func(t *testing.T) {
		ms, err := sqldb.ReadMigrations(migrationFiles, "migrations")
		if err != nil {
			t.Fatal(err)
		}
		storetest.Migrations(t, ms, func(t *testing.T, dsn string, ms []sqldb.Migration) (*sqldb.DB, error) {
			return open(ctx, dsn, Options{}, ms)
		}, srv.NewDatabase(t))
	})
	t.Run("ConcurrentOpen", func(t *testing.T) {
		// Several processes starting at once on an empty database: the
		// advisory lock lets one migrate, the others find it migrated.
		dsn := srv.NewDatabase(t)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := Open(ctx, dsn, Options{MaxConns: 2})
				if err != nil {
					errs <- err
					return
				}
				s.Close()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
	t.Run("BadDSN", func(t *testing.T) {
		if _, err := Open(ctx, "host=127.0.0.1 port=1 user=x dbname=x sslmode=disable connect_timeout=2", Options{}); err == nil {
			t.Fatal("opened a database nobody serves")
		}
	})
}
