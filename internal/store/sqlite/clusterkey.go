package sqlite

import (
	"context"
	"crypto/rand"
	"fmt"
)

// ClusterKeySize is the cluster key's length in bytes.
const ClusterKeySize = 32

// ClusterKey is the store's cluster key: 32 random bytes, made by whichever
// process asks first and the same for every handle on the file, with which
// replicas authenticate calls to each other's internal endpoints. It is a
// secret: never log it, nor put it in an error. Callers read it once and
// keep it (it never changes).
func (d *DB) ClusterKey(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, ClusterKeySize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("sqlite: cluster key: %w", err)
	}
	// Insert-if-absent, then read: writers take turns on the file's lock,
	// so of two racing the second's insert does nothing and both read the
	// first's key.
	if _, err := d.SQL.ExecContext(ctx, `INSERT INTO cluster_key(id, key) VALUES (1, ?) ON CONFLICT(id) DO NOTHING`, fresh); err != nil {
		return nil, fmt.Errorf("sqlite: cluster key: %w", err)
	}
	var key []byte
	if err := d.SQL.QueryRowContext(ctx, `SELECT key FROM cluster_key WHERE id = 1`).Scan(&key); err != nil {
		return nil, fmt.Errorf("sqlite: cluster key: %w", err)
	}
	if len(key) != ClusterKeySize {
		// The table's CHECK holds it to 32; say so without the bytes.
		return nil, fmt.Errorf("sqlite: cluster key: stored key is %d bytes, want %d", len(key), ClusterKeySize)
	}
	return key, nil
}
