package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/reauth/reauth/internal/store/storetest"
)

func TestClusterKey(t *testing.T) {
	storetest.ClusterKey(t, func(t *testing.T) func(t *testing.T) storetest.ClusterKeyer {
		path := filepath.Join(t.TempDir(), "reauth.db")
		return func(t *testing.T) storetest.ClusterKeyer { return openDB(t, path) }
	})
}
