package webhook

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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
