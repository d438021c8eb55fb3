package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Replicas is the registry of the processes on this store file whose page
// servers share one public URL: each one's internal page URL and when it
// was last heard from (this machine's clock: a SQLite file is one host's).
type Replicas struct {
	db *DB
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// NewReplicas is the replica registry on db.
func NewReplicas(db *DB) *Replicas { return &Replicas{db: db, Now: time.Now} }

// replicaPrune is how old a row must be to be deleted by Register.
const replicaPrune = 24 * time.Hour

// Register records replica id at url as live now: at start, and every few
// seconds after. It refuses (ReplicaTakenError) an id another replica holds
// at another URL and was heard from within fresh.
func (r *Replicas) Register(ctx context.Context, id, url string, fresh time.Duration) error {
	now := r.Now()
	tx, err := r.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: replicas: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM replicas WHERE seen_at < ?`, now.Add(-replicaPrune).UnixMilli()); err != nil {
		return fmt.Errorf("sqlite: replicas: %w", err)
	}
	var holder string
	var seen int64
	err = tx.QueryRowContext(ctx, `SELECT internal_url, seen_at FROM replicas WHERE id = ?`, id).Scan(&holder, &seen)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO replicas(id, internal_url, started_at, seen_at) VALUES (?, ?, ?, ?)`,
			id, url, now.UnixMilli(), now.UnixMilli())
	case err != nil:
	case holder == url:
		_, err = tx.ExecContext(ctx, `UPDATE replicas SET seen_at = ? WHERE id = ?`, now.UnixMilli(), id)
	case now.Sub(time.UnixMilli(seen)) < fresh:
		return &ReplicaTakenError{ID: id, URL: holder, Ago: now.Sub(time.UnixMilli(seen))}
	default:
		_, err = tx.ExecContext(ctx, `UPDATE replicas SET internal_url = ?, started_at = ?, seen_at = ? WHERE id = ?`,
			url, now.UnixMilli(), now.UnixMilli(), id)
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return fmt.Errorf("sqlite: replicas: %w", err)
	}
	return nil
}

// Live is every replica heard from within fresh: id to internal URL.
func (r *Replicas) Live(ctx context.Context, fresh time.Duration) (map[string]string, error) {
	rows, err := r.db.SQL.QueryContext(ctx, `SELECT id, internal_url FROM replicas WHERE seen_at >= ?`, r.Now().Add(-fresh).UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("sqlite: replicas: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, url string
		if err := rows.Scan(&id, &url); err != nil {
			return nil, fmt.Errorf("sqlite: replicas: %w", err)
		}
		out[id] = url
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: replicas: %w", err)
	}
	return out, nil
}

// Leave removes replica id at url (a clean shutdown). A row another process
// took over is left alone.
func (r *Replicas) Leave(ctx context.Context, id, url string) error {
	if _, err := r.db.SQL.ExecContext(ctx, `DELETE FROM replicas WHERE id = ? AND internal_url = ?`, id, url); err != nil {
		return fmt.Errorf("sqlite: replicas: %w", err)
	}
	return nil
}

// ReplicaTakenError: another live replica holds the id.
type ReplicaTakenError struct {
	ID, URL string
	Ago     time.Duration // since it was last heard from
}

func (e *ReplicaTakenError) Error() string {
	return fmt.Sprintf("replica id %q is in use by %s (heard from %s ago)", e.ID, e.URL, e.Ago.Round(time.Second))
}
