package storetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/reauth/reauth/mono/webhook"
	"github.com/reauth/reauth/mono/webhook/webhooktest"
)

// MarksBackend runs the marks conformance suite on a database backend: the
// whole of webhooktest.Run (the database is shared, durable and written by
// any number of receivers at once), a change feed that never goes back, and
// the import of an old webhooks.json. newDB makes a fresh, empty database
// and returns how to open a backend on it; each call of that opens another
// handle (its own pool), as another process or replica would, closed when
// its t ends.
func MarksBackend(t *testing.T, newDB func(t *testing.T) func(t *testing.T) webhook.Backend) {
	webhooktest.Run(t, func(t *testing.T) webhooktest.Fixture {
		open := newDB(t)
		return webhooktest.Fixture{Shared: true, Durable: true, Concurrent: true,
			Open: func(t *testing.T) *webhook.Store { return newStore(t, open(t)) }}
	})
	t.Run("FeedNeverGoesBack", func(t *testing.T) { testFeedNeverGoesBack(t, newDB(t)) })
	t.Run("Import", func(t *testing.T) { testImport(t, newDB(t)) })
	t.Run("ImportNeverUndoesNewer", func(t *testing.T) { testImportNeverUndoesNewer(t, newDB(t)) })
	t.Run("ImportByReplicasAtOnce", func(t *testing.T) { testImportByReplicasAtOnce(t, newDB(t)) })
}

func newStore(t *testing.T, b webhook.Backend) *webhook.Store {
	t.Helper()
	s, err := webhook.NewStore(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Writers on two handles, each write to a new account, while a reader polls
// Changes after the newest version it has: every version it is given is
// newer than the last, and what it put together equals every entry at the
// end (a version committed after the reader had passed it would be missing).
func testFeedNeverGoesBack(t *testing.T, open func(t *testing.T) webhook.Backend) {
	writers := []webhook.Backend{open(t), open(t)}
	reader := open(t)
	ctx := context.Background()
	const perWriter, goroutines = 40, 3
	stop := make(chan struct{})
	type result struct {
		view map[string]webhook.Change
		err  error
	}
	done := make(chan result, 1)
	go func() {
		view := map[string]webhook.Change{}
		var last int64
		poll := func() error {
			cs, err := reader.Changes(ctx, last)
			if err != nil {
				return err
			}
			for _, c := range cs {
				if c.Version <= last {
					return fmt.Errorf("after version %d the feed gave %d (%s)", last, c.Version, c.AccountID)
				}
				last = c.Version
				view[c.AccountID] = c
			}
			return nil
		}
		for {
			select {
			case <-stop:
				done <- result{view, poll()}
				return
			default:
			}
			if err := poll(); err != nil {
				done <- result{nil, err}
				return
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, len(writers)*goroutines)
	for w, b := range writers {
		for g := range goroutines {
			wg.Go(func() {
				for i := range perWriter {
					acc := fmt.Sprintf("feed-%d-%d-%d", w, g, i)
					p := webhook.Proposal{AccountID: acc, Next: webhook.Mark{Kind: webhook.MarkReauthRequired, Event: "test", At: webhooktest.Mins(float64(i))}}
					if _, err := b.Apply(ctx, p); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	all, err := reader.Changes(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(writers) * goroutines * perWriter; len(all) != want || len(r.view) != want {
		t.Fatalf("%d entries, the reader put together %d, want %d", len(all), len(r.view), want)
	}
	for _, c := range all {
		if got := r.view[c.AccountID]; got.Version != c.Version || got.Entry != c.Entry {
			t.Errorf("%s: the reader has %+v, the database %+v", c.AccountID, got, c)
		}
	}
}

// oldFile writes a webhooks.json the way the file Store does, with a mark
// (2026 shape), a mark from a 2022 payload, an unlinking, a clearing by a
// webhook, a clearing by the app, and returns its path and the Store.
func oldFile(t *testing.T) (string, *webhook.Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "reauth", "webhooks.json")
	fs, err := webhook.OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(d webhook.Delivery, recv time.Time) {
		t.Helper()
		ev, err := webhook.Parse(d.Body())
		if err != nil {
			t.Fatal(err)
		}
		ev.Received = recv
		if _, err := fs.Record(ev); err != nil {
			t.Fatal(err)
		}
	}
	mins := webhooktest.Mins
	rec(webhook.Delivery{Kind: webhook.ReauthRequired, AccountID: "imp-marked", EventID: "i1", Timestamp: mins(1)}, mins(1))
	rec(webhook.Delivery{Kind: webhook.AccountUpdated, AccountID: "imp-marked", EventID: "i2", Timestamp: mins(2),
		Meta: &webhook.Meta{SyncStatus: "REAUTHORISATION_REQUIRED", DataRequestID: "DRQ9"}}, mins(2))
	rec(webhook.Delivery{Kind: webhook.JobUpdate, AccountID: "imp-2022", JobStatus: webhook.JobFailed}, mins(3))
	rec(webhook.Delivery{Kind: webhook.AccountUnlinked, AccountID: "imp-unlinked", EventID: "i3", Timestamp: mins(4)}, mins(4))
	rec(webhook.Delivery{Kind: webhook.ReauthRequired, AccountID: "imp-cleared", EventID: "i4", Timestamp: mins(1)}, mins(1))
	rec(webhook.Delivery{Kind: webhook.Reauthorized, AccountID: "imp-cleared", EventID: "i5", Timestamp: mins(5)}, mins(5))
	if _, err := fs.Clear("imp-app", mins(6), "verified"); err != nil {
		t.Fatal(err)
	}
	return path, fs
}

var importedAccounts = []string{"imp-marked", "imp-2022", "imp-unlinked", "imp-cleared", "imp-app"}

// An old webhooks.json imports once: its marks, unlinkings, clearings (with
// their evidence and spell starts) and seen ids; a second run imports
// nothing; the file is left as it was; a missing file imports nothing and a
// damaged one is an error.
func testImport(t *testing.T, open func(t *testing.T) webhook.Backend) {
	ctx := context.Background()
	path, fs := oldFile(t)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fiBefore, _ := os.Stat(path)

	r, err := webhook.ImportFile(ctx, open(t), path)
	if err != nil {
		t.Fatal(err)
	}
	if want := (webhook.ImportResult{Marks: 2, Unlinked: 1, Cleared: 2, Seen: 5}); r != want {
		t.Fatalf("import: %+v, want %+v", r, want)
	}
	s := newStore(t, open(t))
	for _, acc := range importedAccounts {
		a, aok := fs.Latest(acc)
		b, bok := s.Latest(acc)
		if a != b || aok != bok || !aok {
			t.Errorf("%s: imported %+v %v\n          file %+v %v", acc, b, bok, a, aok)
		}
	}
	if m, _ := s.Mark("imp-marked"); !m.Since.Equal(webhooktest.Mins(1)) || m.DataRequestID != "DRQ9" {
		t.Errorf("the imported mark lost its spell start or evidence: %+v", m)
	}
	for _, id := range []string{"i1", "i2", "i3", "i4", "i5"} {
		if !s.Seen(id) {
			t.Errorf("%s not seen after the import", id)
		}
	}
	ev, _ := webhook.Parse(webhook.Delivery{Kind: webhook.ReauthRequired, AccountID: "imp-cleared", EventID: "i5", Timestamp: webhooktest.Mins(9)}.Body())
	if out, err := s.Record(ev); err != nil || out != webhook.Duplicate {
		t.Errorf("an event id the file had seen: %v %v, want duplicate", out, err)
	}

	again, err := webhook.ImportFile(ctx, open(t), path)
	if err != nil || again != (webhook.ImportResult{Already: true}) {
		t.Errorf("second import: %+v %v, want nothing (already imported)", again, err)
	}
	after, _ := os.ReadFile(path)
	fiAfter, _ := os.Stat(path)
	if !bytes.Equal(before, after) || !fiAfter.ModTime().Equal(fiBefore.ModTime()) {
		t.Error("the import changed the old file")
	}
	if marked, cleared, err := s.Reload(); err != nil || marked != nil || cleared != nil {
		t.Errorf("a second import changed something: %v %v %v", marked, cleared, err)
	}

	if r, err := webhook.ImportFile(ctx, open(t), filepath.Join(t.TempDir(), "none.json")); err != nil || r != (webhook.ImportResult{}) {
		t.Errorf("missing file: %+v %v", r, err)
	}
	damaged := filepath.Join(t.TempDir(), "webhooks.json")
	if err := os.WriteFile(damaged, []byte(`{"needs_reauth":{`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := webhook.ImportFile(ctx, open(t), damaged); err == nil {
		t.Error("a damaged file imported without an error")
	}
}

// An import after the database has newer events for an account does not
// undo them; older entries are not written and not counted.
func testImportNeverUndoesNewer(t *testing.T, open func(t *testing.T) webhook.Backend) {
	path, _ := oldFile(t)
	s := newStore(t, open(t))
	ev, _ := webhook.Parse(webhook.Delivery{Kind: webhook.Reauthorized, AccountID: "imp-marked", EventID: "new", Timestamp: webhooktest.Mins(30)}.Body())
	ev.Received = webhooktest.Mins(30)
	if out, err := s.Record(ev); err != nil || out != webhook.Applied {
		t.Fatal(out, err)
	}
	r, err := webhook.ImportFile(context.Background(), open(t), path)
	if err != nil {
		t.Fatal(err)
	}
	if want := (webhook.ImportResult{Marks: 1, Unlinked: 1, Cleared: 2, Seen: 5}); r != want {
		t.Errorf("import: %+v, want %+v (imp-marked is newer in the database)", r, want)
	}
	if _, _, err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if c, ok := s.Cleared("imp-marked"); !ok || c.EventID != "new" || s.NeedsReauth("imp-marked") {
		t.Errorf("the import undid a newer clearing: %+v %v", c, ok)
	}
	if !s.NeedsReauth("imp-2022") || !s.IsUnlinked("imp-unlinked") {
		t.Error("the other entries were not imported")
	}
}

// Replicas starting together both import: one does, the other finds it
// done.
func testImportByReplicasAtOnce(t *testing.T, open func(t *testing.T) webhook.Backend) {
	path, _ := oldFile(t)
	bs := []webhook.Backend{open(t), open(t), open(t)}
	rs := make([]webhook.ImportResult, len(bs))
	errs := make([]error, len(bs))
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Go(func() { rs[i], errs[i] = webhook.ImportFile(context.Background(), b, path) })
	}
	wg.Wait()
	did := 0
	for i, r := range rs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !r.Already {
			did++
			if r.Marks != 2 || r.Unlinked != 1 || r.Cleared != 2 {
				t.Errorf("import %d: %+v", i, r)
			}
		}
	}
	if did != 1 {
		t.Errorf("%d replicas imported, want 1: %+v", did, rs)
	}
	all, err := bs[0].Changes(context.Background(), 0)
	if err != nil || len(all) != len(importedAccounts) {
		t.Errorf("%d entries (%v), want %d", len(all), err, len(importedAccounts))
	}
}
