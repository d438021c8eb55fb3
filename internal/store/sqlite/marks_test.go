package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/mono/webhook"
)

// marksOn returns how to open marks backends on one store file, each on its
// own *DB (its own pool), as separate processes would.
func marksOn(path string) func(t *testing.T) webhook.Backend {
	return func(t *testing.T) webhook.Backend { return NewMarks(openDB(t, path)) }
}

func openDB(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMarksBackend(t *testing.T) {
	storetest.MarksBackend(t, func(t *testing.T) func(t *testing.T) webhook.Backend {
		return marksOn(filepath.Join(t.TempDir(), "reauth.db"))
	})
}

// Seen event ids are kept for SeenFor, then pruned by a write: an id older
// than that is news again.
func TestSeenIDsAreKeptForSeenFor(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "reauth.db"))
	m := NewMarks(db)
	clock := time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	m.Now = func() time.Time { return clock }
	s, err := webhook.NewStore(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(id string) webhook.Outcome {
		t.Helper()
		out, err := s.Record(webhook.Event{ID: id, Kind: webhook.SyncFailed, AccountID: "acc1", Received: clock})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	rec("old")
	clock = clock.Add(webhook.DefaultSeenFor - time.Second)
	if out := rec("old"); out != webhook.Duplicate || !s.Seen("old") {
		t.Fatalf("within SeenFor: %v", out)
	}
	clock = clock.Add(2 * time.Second)
	if s.Seen("old") {
		t.Error("an id older than SeenFor is still seen")
	}
	rec("new") // prunes
	var n int
	if err := db.SQL.QueryRow(`SELECT count(*) FROM webhook_seen`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d seen rows (%v), want 1 after pruning", n, err)
	}
	if out := rec("old"); out != webhook.Applied {
		t.Errorf("an id past SeenFor: %v, want applied", out)
	}
}
