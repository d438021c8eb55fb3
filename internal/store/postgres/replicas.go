package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Replicas is the registry of the replicas on this database: each one's
// internal page URL and when it was last heard from (the server's clock, so
// replicas on hosts whose clocks differ agree on who is live).
type Replicas struct{ db *DB }

// NewReplicas is the replica registry on db.
func NewReplicas(db *DB) *Replicas { return &Replicas{db: db} }

// replicaPrune is how old a row must be to be deleted by Register.
const replicaPrune = 24 * time.Hour

// Register records replica id at url as live now: at start, and every few
// seconds after. It refuses (ReplicaTakenError) an id another replica holds
// at another URL and was heard from within fresh: two processes with one
// --replica-id would take each other's pages.
func (r *Replicas) Register(ctx context.Context, id, url string, fresh time.Duration) error {
	err := pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM replicas WHERE seen_at < now() - $1::bigint * interval '1 microsecond'`,
			replicaPrune.Microseconds()); err != nil {
			return err
		}
		var got string
		err := tx.QueryRow(ctx, `INSERT INTO replicas(id, internal_url) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET seen_at = now(), internal_url = excluded.internal_url,
				started_at = CASE WHEN replicas.internal_url = excluded.internal_url THEN replicas.started_at ELSE now() END
			WHERE replicas.internal_url = excluded.internal_url
				OR replicas.seen_at < now() - $3::bigint * interval '1 microsecond'
			RETURNING id`, id, url, fresh.Microseconds()).Scan(&got)
		if errors.Is(err, pgx.ErrNoRows) {
			var holder string
			var ago float64
			if err := tx.QueryRow(ctx, `SELECT internal_url, extract(epoch FROM now() - seen_at) FROM replicas WHERE id = $1`, id).
				Scan(&holder, &ago); err != nil {
				return err
			}
			return &ReplicaTakenError{ID: id, URL: holder, Ago: time.Duration(ago * float64(time.Second))}
		}
		return err
	})
	var taken *ReplicaTakenError
	if err != nil && !errors.As(err, &taken) {
		return fmt.Errorf("postgres: replicas: %w", err)
	}
	return err
}

// Live is every replica heard from within fresh: id to internal URL.
func (r *Replicas) Live(ctx context.Context, fresh time.Duration) (map[string]string, error) {
	rows, err := r.db.Pool.Query(ctx, `SELECT id, internal_url FROM replicas WHERE seen_at >= now() - $1::bigint * interval '1 microsecond'`,
		fresh.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("postgres: replicas: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, url string
		if err := rows.Scan(&id, &url); err != nil {
			return nil, fmt.Errorf("postgres: replicas: %w", err)
		}
		out[id] = url
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: replicas: %w", err)
	}
	return out, nil
}

// Leave removes replica id at url (a clean shutdown: its pages end with it,
// and the others say so at once instead of after the stale bound). A row
// another process took over is left alone.
func (r *Replicas) Leave(ctx context.Context, id, url string) error {
	if _, err := r.db.Pool.Exec(ctx, `DELETE FROM replicas WHERE id = $1 AND internal_url = $2`, id, url); err != nil {
		return fmt.Errorf("postgres: replicas: %w", err)
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
