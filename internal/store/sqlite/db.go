// Package sqlite is the embedded store: one SQLite file under the state
// directory, through modernc.org/sqlite (pure Go, so the CGO_ENABLED=0 build
// stays). WAL with synchronous=FULL: a committed transaction is on disk
// before Commit returns, so a record is durable before Append returns.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an open store file.
type DB struct {
	// SQL is the pool. Writes run in BEGIN IMMEDIATE transactions (the
	// DSN's _txlock), so two writers queue on the file's lock instead of
	// failing an upgrade from a read lock half-way.
	SQL  *sql.DB
	Path string
}

// Open opens (creating it 0600, and its directory 0700) the store at path
// and brings its schema up to date.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: store path is empty")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// Create the file with owner-only permissions before SQLite does (it
	// would use the umask); an existing file readable by others is tightened.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		_ = f.Chmod(0o600)
	}
	f.Close()

	q := url.Values{}
	// Applied in this order on each new connection: busy_timeout first, so
	// that switching a new file to WAL waits for another process (or pool
	// connection) opening it at the same moment instead of failing with
	// SQLITE_BUSY.
	for _, p := range []string{
		"busy_timeout(10000)",
		"journal_mode(WAL)",
		"synchronous(FULL)",
		"foreign_keys(ON)",
	} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := pingBusy(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return &DB{SQL: db, Path: path}, nil
}

// pingBusy opens the first connection. Two processes opening a new file at
// the same moment both switch it to WAL, and SQLite answers the loser
// SQLITE_BUSY at once, without waiting on busy_timeout (a lock it will not
// wait for): that is retried, briefly, until ctx ends or about 5 s pass.
func pingBusy(ctx context.Context, db *sql.DB) error {
	for tries := 0; ; tries++ {
		err := db.PingContext(ctx)
		var coded interface{ Code() int }
		if err == nil || !errors.As(err, &coded) || coded.Code()&0xff != sqliteBusy || tries >= 250 {
			return err
		}
		t := time.NewTimer(20 * time.Millisecond) // backoff before the next try, not a wait for a result
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// sqliteBusy is SQLITE_BUSY (extended codes keep it in their low byte).
const sqliteBusy = 5

// Close closes the pool.
func (d *DB) Close() error { return d.SQL.Close() }

// migrate applies, in name order, every embedded migration not yet recorded
// in schema_migrations, each in its own IMMEDIATE transaction (the file lock
// keeps two processes starting together from both applying one).
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))`); err != nil {
		return fmt.Errorf("sqlite: migrations table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range names {
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		base := strings.TrimSuffix(filepath.Base(name), ".sql")
		if err := applyOne(ctx, db, base, string(body)); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", base, err)
		}
	}
	return nil
}

func applyOne(ctx context.Context, db *sql.DB, name, body string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(name) VALUES (?)`, name); err != nil {
		return err
	}
	return tx.Commit()
}
