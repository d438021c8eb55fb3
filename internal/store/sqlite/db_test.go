package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestOpenCreatesAPrivateFileAndMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "reauth.db")
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	dbs := make([]*DB, 3)
	for i := range dbs {
		wg.Add(1)
		go func() { defer wg.Done(); dbs[i], errs[i] = Open(ctx, path) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("store file mode %o, want 600", perm)
	}
	var applied int
	if err := dbs[0].SQL.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = '0000_store'`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Fatalf("0000_store recorded %d times, want 1", applied)
	}
	var mode string
	if err := dbs[0].SQL.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q (%v), want wal", mode, err)
	}
	var sync int
	if err := dbs[0].SQL.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("synchronous = %d (%v), want 2 (FULL)", sync, err)
	}
}
