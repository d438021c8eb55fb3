package postgres

import (
	"testing"

	"github.com/reauth/reauth/internal/store/storetest"
)

// Each test schema stands for a database: handles on one schema share a
// key, another schema has its own.
func TestClusterKey(t *testing.T) {
	storetest.ClusterKey(t, func(t *testing.T) func(t *testing.T) storetest.ClusterKeyer {
		url := storetest.PostgresURL(t)
		return func(t *testing.T) storetest.ClusterKeyer { return openDB(t, url) }
	})
}
