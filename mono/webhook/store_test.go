package webhook

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestStoreRemembersOnlyRecentIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.json")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	s.maxSeen = 3
	for i := range 5 {
		if fresh, err := s.Apply(Event{ID: fmt.Sprintf("e%d", i), Kind: SyncFailed, AccountID: acc1}); err != nil || !fresh {
			t.Fatalf("e%d: fresh=%v err=%v", i, fresh, err)
		}
	}
	check := func(s *Store) {
		t.Helper()
		for i, want := range []bool{false, false, true, true, true} {
			if got := s.Seen(fmt.Sprintf("e%d", i)); got != want {
				t.Errorf("Seen(e%d) = %v, want %v", i, got, want)
			}
		}
	}
	check(s)
	reopened, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	check(reopened)
}

func TestStoreFileIsPrivateAndReplacedAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "webhooks.json")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Apply(Event{ID: fmt.Sprint(i), Kind: ReauthRequired, AccountID: fmt.Sprint("acc", i)}); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("store mode %o, want 600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestDamagedStoreIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.json")
	if err := os.WriteFile(path, []byte(`{"needs_reauth":{"a":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(path); err == nil {
		t.Error("a damaged store opened silently (every mark would be lost)")
	}
}

// When the store cannot persist, the handler answers 500 so Mono retries, and
// nothing changes in memory, so the retry is processed afresh.
func TestPersistFailureIs500AndChangesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	path := filepath.Join(dir, "webhooks.json")
	store, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	r := serve(t, store, path)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if got := r.post(ptr(secret), string(Payload(ReauthRequired, acc1, "e1"))); got != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", got)
	}
	if store.NeedsReauth(acc1) || store.Seen("e1") || len(r.got()) != 0 {
		t.Error("a failed persist still changed the store or reached the app")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := r.post(ptr(secret), string(Payload(ReauthRequired, acc1, "e1"))); got != http.StatusOK || !store.NeedsReauth(acc1) {
		t.Errorf("retry: status %d, marked %v", got, store.NeedsReauth(acc1))
	}
}

func TestDefaultStorePath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	if got, err := DefaultStorePath(); err != nil || got != filepath.Join(dir, "reauth", "webhooks.json") {
		t.Errorf("%q %v", got, err)
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_STATE_HOME", "")
	if got, err := DefaultStorePath(); err != nil || got != filepath.Join(home, ".local", "state", "reauth", "webhooks.json") {
		t.Errorf("%q %v", got, err)
	}
}

// A store another process writes (a `reauth webhooks` receiver beside the
// app): Reload picks up its marks and clears, once each, and never reports
// what this Store wrote itself.
func TestReloadSeesAnotherProcessesChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.json")
	reader, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if marked, cleared, err := reader.Reload(); err != nil || marked != nil || cleared != nil {
		t.Fatalf("Reload with no file yet: %v %v %v, want nothing", marked, cleared, err)
	}
	receiver, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, acc := range []string{"acc2", "acc1"} {
		if _, err := receiver.Apply(Event{ID: fmt.Sprint("r", i), Kind: ReauthRequired, AccountID: acc}); err != nil {
			t.Fatal(err)
		}
	}
	marked, cleared, err := reader.Reload()
	if err != nil || !slices.Equal(marked, []string{"acc1", "acc2"}) || cleared != nil {
		t.Fatalf("Reload after two marks: marked %v cleared %v err %v", marked, cleared, err)
	}
	if !reader.NeedsReauth("acc1") || !reader.Seen("r0") {
		t.Fatal("the reloaded store lacks the receiver's mark or its event id")
	}
	if marked, cleared, err := reader.Reload(); err != nil || marked != nil || cleared != nil {
		t.Fatalf("Reload of an unchanged file: %v %v %v, want nothing", marked, cleared, err)
	}
	if _, err := receiver.Apply(Event{ID: "r2", Kind: Reauthorized, AccountID: "acc1"}); err != nil {
		t.Fatal(err)
	}
	marked, cleared, err = reader.Reload()
	if err != nil || marked != nil || !slices.Equal(cleared, []string{"acc1"}) {
		t.Fatalf("Reload after a clear: marked %v cleared %v err %v", marked, cleared, err)
	}
	if reader.NeedsReauth("acc1") || !reader.NeedsReauth("acc2") {
		t.Fatal("after the reload acc1 should be cleared and acc2 still marked")
	}
	if marked, cleared, err := receiver.Reload(); err != nil || marked != nil || cleared != nil {
		t.Fatalf("the receiver's Reload reported its own writes: %v %v %v", marked, cleared, err)
	}
}

// A damaged file on Reload is an error and the last good marks stay.
func TestReloadOfADamagedFileKeepsTheMarks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhooks.json")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(Event{ID: "e1", Kind: ReauthRequired, AccountID: "acc1"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Reload(); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Reload of a damaged file: %v, want a damaged-store error", err)
	}
	if !s.NeedsReauth("acc1") {
		t.Fatal("a failed Reload dropped the mark")
	}
}
