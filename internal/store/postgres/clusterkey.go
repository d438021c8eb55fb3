package postgres

import (
	"context"
	"crypto/rand"
	"fmt"
)

// ClusterKeySize is the cluster key's length in bytes.
const ClusterKeySize = 32

// ClusterKey is the database's cluster key: 32 random bytes, made by
// whichever process asks first and the same for every handle on the
// database (every replica), with which replicas authenticate calls to each
// other's internal endpoints. It is a secret: never log it, nor put it in an
// error. Callers read it once and keep it (it never changes).
func (d *DB) ClusterKey(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, ClusterKeySize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("postgres: cluster key: %w", err)
	}
	// Insert-if-absent, then read in a second statement: of two processes
	// racing, the loser's insert waits on the winner's row and does nothing,
	// and its select (a new snapshot under READ COMMITTED) sees the winner's
	// key. Reading in the insert's own statement would not.
	if _, err := d.Pool.Exec(ctx, `INSERT INTO cluster_key(id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, fresh); err != nil {
		return nil, fmt.Errorf("postgres: cluster key: %w", err)
	}
	var key []byte
	if err := d.Pool.QueryRow(ctx, `SELECT key FROM cluster_key WHERE id = 1`).Scan(&key); err != nil {
		return nil, fmt.Errorf("postgres: cluster key: %w", err)
	}
	if len(key) != ClusterKeySize {
		// The table's CHECK holds it to 32; say so without the bytes.
		return nil, fmt.Errorf("postgres: cluster key: stored key is %d bytes, want %d", len(key), ClusterKeySize)
	}
	return key, nil
}
