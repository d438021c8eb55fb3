package postgres

import (
	"context"
	"os"
	"strings"
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
	url := storetest.PostgresURL(t)
	open := func(t *testing.T) *Audit {
		a, err := OpenAudit(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	return storetest.AuditStore{
		Where: url,
		Open:  func(t *testing.T) audit.Backend { return open(t) },
		Exec: func(t *testing.T, sql string) error {
			_, err := open(t).db.Pool.Exec(context.Background(), sql)
			return err
		},
		Unguard: `DROP TRIGGER audit_records_append_only ON audit_records`,
	}
}

// TRUNCATE (which row triggers do not see) is refused too.
func TestAuditRefusesTruncate(t *testing.T) {
	a, err := OpenAudit(context.Background(), storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	l := audit.New(a, audit.Options{})
	if err := l.Append(audit.Record{Action: audit.ActionSessionStarted}); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"audit_records", "audit_imports"} {
		_, err := a.db.Pool.Exec(context.Background(), "TRUNCATE "+table)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("TRUNCATE %s: %v, want refused", table, err)
		}
	}
	if rep, err := l.Verify(context.Background()); err != nil || rep.Records != 1 {
		t.Errorf("Verify after TRUNCATE: %+v, %v", rep, err)
	}
}

// An import into an empty table builds the indexes after the rows: they
// are all there afterwards, and an import into a table with rows keeps them.
func TestAuditImportRebuildsTheIndexes(t *testing.T) {
	st := newAuditStore(t)
	a := st.Open(t).(*Audit)
	count := func() int {
		var n int
		if err := a.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_indexes
			WHERE schemaname = current_schema() AND tablename = 'audit_records'`).Scan(&n); err != nil {
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
		if got := count(); got != before || before < 5 {
			t.Fatalf("after import %d: %d indexes, want %d", i, got, before)
		}
	}
	if rep, err := l.Verify(context.Background()); err != nil || rep.Records != 60 {
		t.Fatalf("Verify: %+v, %v", rep, err)
	}
}
