package webhook

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultSeen is how many recent event ids the Store remembers for dedupe.
// Mono retries a delivery for hours, not for ten thousand events.
const DefaultSeen = 10_000

// Mark says an account needs reauth: since when and which event said so.
type Mark struct {
	Since   time.Time `json:"since"`
	Source  string    `json:"source"` // e.g. mono.events.reauthorisation_required
	EventID string    `json:"event_id,omitempty"`
}

// Store is the small persisted state behind the webhook receiver: accounts
// marked as needing reauth, and recently seen event ids. Every change is
// written as a whole JSON file via temp file + fsync + rename, so a crash
// leaves either the old or the new state, never a torn one. Safe for
// concurrent use. A single process should own (write) a store file; others
// may follow it with Reload.
type Store struct {
	mu        sync.Mutex
	path      string // "" keeps the store in memory only
	maxSeen   int
	marks     map[string]Mark
	seenOrder []string // oldest first
	seen      map[string]struct{}
	// file is the store file as this Store last read or wrote it, so Reload
	// can tell when another process has replaced it. nil: no file yet.
	file os.FileInfo
}

type storeFile struct {
	Version     int             `json:"version"`
	NeedsReauth map[string]Mark `json:"needs_reauth"`
	// SeenEvents are event ids as sent, oldest first: an id cleaning
	// would change is kept as NUL + hex (see dedupeKey).
	SeenEvents []string `json:"seen_events"`
}

func newStore(path string) *Store {
	return &Store{path: path, maxSeen: DefaultSeen, marks: map[string]Mark{}, seen: map[string]struct{}{}}
}

// DefaultStorePath is $XDG_STATE_HOME/reauth/webhooks.json, or
// ~/.local/state/reauth/webhooks.json.
func DefaultStorePath() (string, error) {
	if dir := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "reauth", "webhooks.json"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("webhook: no default store path: %w", err)
	}
	return filepath.Join(home, ".local", "state", "reauth", "webhooks.json"), nil
}

// OpenStore loads the store at path, or starts an empty one if the file does
// not exist yet (its directory is created 0700). A file that does not parse is
// an error rather than silently dropping every mark. Temp files a save left
// behind when its process died mid-write (see removeStaleTemps) are deleted.
func OpenStore(path string) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("webhook: store path is empty")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	removeStaleTemps(path, time.Now())
	s := newStore(path)
	if _, _, err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the store file again if another process has replaced it
// since this Store last read or wrote it (a `reauth webhooks` receiver
// beside the app), and reports the accounts whose mark appeared or went
// away. A missing or unchanged file changes nothing; a file that does not
// parse is an error and changes nothing either.
func (s *Store) Reload() (marked, cleared []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reload()
}

// reload is Reload with s.mu held.
func (s *Store) reload() (marked, cleared []string, err error) {
	fi, err := os.Stat(s.path)
	if os.IsNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("webhook: %w", err)
	}
	if sameFile(s.file, fi) {
		return nil, nil, nil
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook: %w", err)
	}
	var f storeFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, nil, fmt.Errorf("webhook: store %s is damaged: %w", s.path, err)
	}
	if f.NeedsReauth == nil {
		f.NeedsReauth = map[string]Mark{}
	}
	for id := range f.NeedsReauth {
		if _, had := s.marks[id]; !had {
			marked = append(marked, id)
		}
	}
	for id := range s.marks {
		if _, has := f.NeedsReauth[id]; !has {
			cleared = append(cleared, id)
		}
	}
	slices.Sort(marked)
	slices.Sort(cleared)
	if n := len(f.SeenEvents); n > s.maxSeen {
		f.SeenEvents = f.SeenEvents[n-s.maxSeen:]
	}
	seen := make(map[string]struct{}, len(f.SeenEvents))
	for _, id := range f.SeenEvents {
		seen[id] = struct{}{}
	}
	s.marks, s.seenOrder, s.seen, s.file = f.NeedsReauth, f.SeenEvents, seen, fi
	return marked, cleared, nil
}

// sameFile reports whether b is still the file a was: every save renames a
// new file into place, so a new inode, size or time means a new version.
func sameFile(a, b os.FileInfo) bool {
	return a != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// Apply records ev: it returns false (and changes nothing) when its event id
// was already seen. Ids are compared exactly as sent, before cleaning: two
// ids that differ only in characters cleaning removes are two events (the
// Mark keeps the cleaned ev.ID, for people). Otherwise it marks or clears the
// account as the event says, remembers the id, and persists before returning
// true. If persisting fails nothing changes in memory either, so Mono's retry
// is processed afresh.
func (s *Store) Apply(ev Event) (fresh bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := ev.dedupeKey()
	if _, dup := s.seen[key]; key != "" && dup {
		return false, nil
	}
	if ev.AccountID == "" && (ev.NeedsReauth() || ev.Kind == Reauthorized) {
		return false, fmt.Errorf("webhook: %s event without an account id", ev.Kind)
	}
	marks, changed := s.marks, false
	switch {
	case ev.NeedsReauth():
		if _, already := marks[ev.AccountID]; !already {
			marks, changed = maps.Clone(marks), true
			marks[ev.AccountID] = Mark{Since: ev.Received, Source: ev.Kind.String(), EventID: ev.ID}
		}
	case ev.Kind == Reauthorized:
		if _, marked := marks[ev.AccountID]; marked {
			marks, changed = maps.Clone(marks), true
			delete(marks, ev.AccountID)
		}
	}
	order, evicted := s.seenOrder, []string(nil)
	if key != "" {
		// Clip forces a fresh array, so a failed commit leaves s.seenOrder intact.
		order, changed = append(slices.Clip(order), key), true
		if over := len(order) - s.maxSeen; over > 0 {
			evicted, order = order[:over], order[over:]
		}
	}
	if !changed {
		return true, nil
	}
	if err := s.commit(marks, order); err != nil {
		return false, err
	}
	if key != "" {
		s.seen[key] = struct{}{}
		for _, old := range evicted {
			delete(s.seen, old)
		}
	}
	return true, nil
}

// Mark flags accountID as needing reauth from another source (e.g. a sync
// that answered REAUTHORISATION_REQUIRED). An existing mark is kept.
func (s *Store) Mark(accountID, source string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.marks[accountID]; ok {
		return nil
	}
	marks := maps.Clone(s.marks)
	marks[accountID] = Mark{Since: at, Source: source}
	return s.commit(marks, s.seenOrder)
}

// Clear removes accountID's mark, e.g. once a session confirmed the account
// is healthy again without an account_reauthorized webhook.
func (s *Store) Clear(accountID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.marks[accountID]; !ok {
		return nil
	}
	marks := maps.Clone(s.marks)
	delete(marks, accountID)
	return s.commit(marks, s.seenOrder)
}

// NeedsReauth reports whether accountID is marked.
func (s *Store) NeedsReauth(accountID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.marks[accountID]
	return ok
}

// Marked returns a copy of every mark, by account id.
func (s *Store) Marked() map[string]Mark {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.marks)
}

// Seen reports whether eventID, exactly as sent, has been recorded (among the
// last DefaultSeen).
func (s *Store) Seen(eventID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.seen[dedupeKey(eventID)]
	return ok
}

// commit persists the new state, then installs it. Called with s.mu held.
func (s *Store) commit(marks map[string]Mark, order []string) error {
	if s.path != "" {
		data, err := json.Marshal(storeFile{Version: 1, NeedsReauth: marks, SeenEvents: order})
		if err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		if err := writeFileAtomic(s.path, data); err != nil {
			return fmt.Errorf("webhook: save store: %w", err)
		}
		// What this Store wrote is not news to its own Reload.
		if fi, err := os.Stat(s.path); err == nil {
			s.file = fi
		}
	}
	s.marks, s.seenOrder = marks, order
	return nil
}

// staleTempAge is how old a save's temp file must be before OpenStore takes
// it for the leftover of a writer that died mid-save (kill -9, power loss).
// A save takes milliseconds; a younger temp file may be another process's
// save in flight (a `reauth webhooks` receiver beside the app), and deleting
// it would fail that save.
const staleTempAge = time.Minute

// tempPattern is the os.CreateTemp pattern of path's temp files: the random
// part CreateTemp puts in place of "*" is decimal digits.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".*.tmp" }

// isOwnTemp reports whether name is one of the temp files tempPattern makes
// for the store file named base, and nothing else that may share the
// directory (the audit log, the app's log, an administrator's backup).
func isOwnTemp(base, name string) bool {
	mid, ok := strings.CutPrefix(name, "."+base+".")
	if !ok {
		return false
	}
	mid, ok = strings.CutSuffix(mid, ".tmp")
	if !ok || mid == "" || len(mid) > 20 {
		return false
	}
	for _, c := range mid {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// removeStaleTemps deletes the temp files that saves of path left behind
// when their process was killed between creating the temp file and renaming
// it (each is a whole copy of the store; without this they pile up forever).
// Only regular files of the store's own naming pattern, older than
// staleTempAge, are removed; it reports how many. Best effort: a directory it
// cannot read just keeps its files.
func removeStaleTemps(path string, now time.Time) (removed int) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isOwnTemp(base, e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < staleTempAge {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			removed++
		}
	}
	return removed
}

// beforeRename, when set (tests only), runs between a save's temp file being
// complete and its rename: where a kill -9 leaves the temp file behind.
var beforeRename func(tmp string)

// writeFileAtomic replaces path with data so that a crash at any point leaves
// either the old file or the new one: write a temp file in the same directory,
// fsync it, rename over path, then fsync the directory so the rename itself
// is durable.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPattern(path)) // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if beforeRename != nil {
		beforeRename(tmp.Name())
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: not every platform can fsync a directory
		d.Close()
	}
	return nil
}
