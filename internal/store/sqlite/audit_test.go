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

// An import into an empty table builds the indexes after the rows: they
// are all there afterwards, and an import into a table with rows keeps them.
func TestAuditImportRebuildsTheIndexes(t *testing.T) {
	st := newAuditStore(t)
	a := st.Open(t).(*Audit)
	count := func() int {
		var n int
		if err := a.db.SQL.QueryRow(`SELECT count(*) FROM sqlite_master
			WHERE type = 'index' AND tbl_name = 'audit_records' AND sql IS NOT NULL`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	l := audit.New(a, audit.Options{})
	for i, path := range storetest.AuditFiles(t, 2, 30) {
		res, err := l.ImportFile(context.Background(), path)
		if err != nil || res.Imported != 30 {
			t.Fatalf("import %d: %+v, %v", i, res, err)
		}
		if got := count(); got != before || before < 4 {
			t.Fatalf("after import %d: %d indexes, want %d", i, got, before)
		}
	}
	if rep, err := l.Verify(context.Background()); err != nil || rep.Records != 60 {
		t.Fatalf("Verify: %+v, %v", rep, err)
	}
}
