package storetest_test

import (
	"path/filepath"
	"testing"

	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/state/audit"
)

// The JSON-lines file passes the parts of the suite that apply to it (it
// keeps no chain and cannot import).
func TestFileAuditBackend(t *testing.T) {
	storetest.AuditBackend(t, func(t *testing.T) storetest.AuditStore {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		return storetest.AuditStore{Open: func(t *testing.T) audit.Backend {
			b, err := audit.OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		}}
	})
}
