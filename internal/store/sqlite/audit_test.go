package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/state/audit"
)

func TestAuditBackend(t *testing.T) { storetest.AuditBackend(t, newAuditStore) }

// A writer killed mid-commit loses no acknowledged record and leaves a
// whole chain.
func TestAuditSurvivesKill(t *testing.T) {
	st := newAuditStore(t)
	storetest.AuditSurvivesKill(t, st, "TestAuditCrashChild", st.Where)
}

// TestAuditCrashChild is TestAuditSurvivesKill's writer: it does something
// only in the child process.
func TestAuditCrashChild(t *testing.T) {
	if where := os.Getenv(storetest.EnvCrashChild); where != "" {
		a, err := OpenAudit(context.Background(), where)
		if err != nil {
			t.Fatal(err)
		}
		storetest.AuditCrashChild(a)
	}
}

func newAuditStore(t *testing.T) storetest.AuditStore {
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
		Where: path,
		Open:  func(t *testing.T) audit.Backend { return open(t) },
		Exec: func(t *testing.T, sql string) error {
			_, err := open(t).db.SQL.Exec(sql)
			return err
		},
		Unguard: `DROP TRIGGER audit_records_no_update; DROP TRIGGER audit_records_no_delete;`,
	}
}
