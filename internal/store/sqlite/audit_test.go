package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/state/audit"
)

func TestAuditBackend(t *testing.T) {
	storetest.AuditBackend(t, func(t *testing.T) storetest.AuditStore {
		path := filepath.Join(t.TempDir(), "reauth.db")
		open := func(t *testing.T) *Audit {
			a, err := OpenAudit(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			return a
		}
		return storetest.AuditStore{
			Open: func(t *testing.T) audit.Backend { return open(t) },
			Exec: func(t *testing.T, sql string) error {
				_, err := open(t).db.SQL.Exec(sql)
				return err
			},
			Unguard: `DROP TRIGGER audit_records_no_update; DROP TRIGGER audit_records_no_delete;`,
		}
	})
}
