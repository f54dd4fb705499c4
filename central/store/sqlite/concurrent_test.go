package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// TestConcurrentFirstOpen: the central's processes (ingest, serve) start
// together on a new database file; each must open and migrate it, one
// after the other, without "database is locked".
func TestConcurrentFirstOpen(t *testing.T) {
	ctx := context.Background()
	for round := 0; round < 10; round++ {
		path := filepath.Join(t.TempDir(), "central.db")
		const n = 4
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := Open(ctx, path, Options{})
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
			t.Errorf("round %d: %v", round, fmt.Errorf("open: %w", err))
		}
	}
}
