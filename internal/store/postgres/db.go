// Package postgres is the team store: PostgreSQL through pgx, chosen with
// --database-url / REAUTH_DATABASE_URL (a postgres:// URL). Migrations run at
// start under an advisory lock, so replicas starting together apply each one
// once. The schema is the connection's search_path (a URL may name one with
// ?search_path=...), which is how each test gets its own.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an open pool.
type DB struct {
	Pool *pgxpool.Pool
	// Where names the server for messages: host and database, never the
	// password.
	Where string
	// note is the LISTEN/NOTIFY wake-up (notify.go).
	note notifier
}

// IsURL reports whether s names a PostgreSQL database.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Redact is the URL without its password, for messages and logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.Redacted()
}

// Open connects to the database at rawURL and brings its schema up to date.
// Errors never contain the URL's password.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	if !IsURL(rawURL) {
		return nil, errors.New("postgres: the database URL must start with postgres:// or postgresql://")
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// pgx's parse errors can quote the URL: say what failed, not how.
		return nil, fmt.Errorf("postgres: cannot parse the database URL %s", Redact(rawURL))
	}
	where := Redact(rawURL)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot reach %s: %w", where, err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: %w", where, err)
	}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: %w", where, err)
	}
	return &DB{Pool: pool, Where: where, note: notifier{channel: channelFor(schema)}}, nil
}

// Close stops the listener (if Wake started one) and closes the pool.
func (d *DB) Close() {
	d.note.closeListener()
	d.Pool.Close()
}

// migrateLockKey is the advisory lock's name; the schema is added to it, so
// two schemas in one database (tests) do not wait for each other.
const migrateLockKey = "reauth.migrate:"

// migrate applies, in name order, every embedded migration not yet recorded
// in schema_migrations, holding a session advisory lock for the whole run:
// replicas starting together take turns, and the second finds nothing to do.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1 || current_schema()))`, migrateLockKey); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext($1 || current_schema()))`, migrateLockKey)

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
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
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, base).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations(name) VALUES ($1)`, base)
			return err
		}); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	return nil
}
