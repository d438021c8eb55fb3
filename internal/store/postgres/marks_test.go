package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/mono/webhook"
)

// marksOn returns how to open marks backends on one schema, each on its own
// pool, as separate replicas would.
func marksOn(url string) func(t *testing.T) webhook.Backend {
	return func(t *testing.T) webhook.Backend { return NewMarks(openDB(t, url)) }
}

func openDB(t *testing.T, url string) *DB {
	t.Helper()
	db, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func TestMarksBackend(t *testing.T) {
	storetest.MarksBackend(t, func(t *testing.T) func(t *testing.T) webhook.Backend {
		return marksOn(storetest.PostgresURL(t))
	})
}

// Seen event ids are kept for SeenFor (by the server's clock), then pruned
// by a write: an id older than that is news again.
func TestSeenIDsAreKeptForSeenFor(t *testing.T) {
	db := openDB(t, storetest.PostgresURL(t))
	m := NewMarks(db)
	s, err := webhook.NewStore(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(id string) webhook.Outcome {
		t.Helper()
		out, err := s.Record(webhook.Event{ID: id, Kind: webhook.SyncFailed, AccountID: "acc1", Received: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	rec("old")
	if out := rec("old"); out != webhook.Duplicate || !s.Seen("old") {
		t.Fatalf("within SeenFor: %v", out)
	}
	// Age the id past SeenFor on the server.
	if _, err := db.Pool.Exec(context.Background(), `UPDATE webhook_seen SET seen_at = now() - interval '31 days'`); err != nil {
		t.Fatal(err)
	}
	if s.Seen("old") {
		t.Error("an id older than SeenFor is still seen")
	}
	rec("new") // prunes
	var n int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_seen`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d seen rows (%v), want 1 after pruning", n, err)
	}
	if out := rec("old"); out != webhook.Applied {
		t.Errorf("an id past SeenFor: %v, want applied", out)
	}
}
